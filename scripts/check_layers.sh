#!/usr/bin/env bash
# Fails if a third-party header is included outside the one layer that wraps it
# (STYLE.md §1): libuv and libssl in net/, llhttp in proto/http1_parser.*, zlib in
# proto/ws_deflate.*, toml++ in proxy/config*. libcrypto (SHA-1, base64, RAND, HMAC and the public keys of JWTs) is allowed in proto/.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
check() {  # check PATTERN ALLOWED_REGEX DESCRIPTION
  local hits
  hits=$(grep -rnE "#include *[<\"]$1" src | grep -vE "^src/($2)" || true)
  if [[ -n "$hits" ]]; then
    echo "layering: $3 included outside its layer:"; echo "$hits"; status=1
  fi
}
check 'uv\.h' 'net/' 'libuv (uv.h)'
check 'openssl/(ssl|tls1)' 'net/' 'libssl'
check 'openssl/' 'net/|proto/' 'OpenSSL'
check '(llhttp/)?llhttp\.h' 'proto/http1_parser\.' 'llhttp'
check 'zlib\.h' 'proto/ws_deflate\.' 'zlib'
check 'toml\+\+' 'proxy/config' 'toml++'
# Lower layers never include upper ones.
hits=$(grep -rnE '#include *"(proxy|app)/' src/base src/proto src/net 2>/dev/null || true)
[[ -z "$hits" ]] || { echo "layering: upward include:"; echo "$hits"; status=1; }
hits=$(grep -rnE '#include *"(net|proxy|app)/' src/base src/proto 2>/dev/null || true)
[[ -z "$hits" ]] || { echo "layering: upward include:"; echo "$hits"; status=1; }
[[ $status -eq 0 ]] && echo "layering ok"
exit $status
