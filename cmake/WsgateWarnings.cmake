# wsgate_warnings(target): the project's warning set, applied to our own targets only
# (llhttp and other third-party code keep their own flags).
function(wsgate_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wsign-conversion -Wnon-virtual-dtor)
  if(WSGATE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
