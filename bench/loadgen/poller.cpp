#include "poller.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>

namespace wsgate::bench {
namespace {

constexpr int kMaxEvents = 256;

}  // namespace

std::uint64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

Poller::Poller() : ep_(epoll_create1(EPOLL_CLOEXEC)) {
  if (ep_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
}

Poller::~Poller() {
  ::close(ep_);
}

void Poller::add(int fd, std::uint32_t events, PollHandler* h) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = h;
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0)
    throw std::runtime_error(std::string("epoll_ctl add: ") + std::strerror(errno));
}

void Poller::modify(int fd, std::uint32_t events, PollHandler* h) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = h;
  if (epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &ev) != 0)
    throw std::runtime_error(std::string("epoll_ctl mod: ") + std::strerror(errno));
}

void Poller::remove(int fd) noexcept {
  epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
}

void Poller::run_once(int timeout_ms) {
  epoll_event evs[kMaxEvents];
  const int n = epoll_wait(ep_, evs, kMaxEvents, timeout_ms);
  // A handler never frees another one during dispatch (dead clients stay allocated until the
  // run ends), so the pointers in evs stay valid.
  for (int i = 0; i < n; ++i) static_cast<PollHandler*>(evs[i].data.ptr)->on_poll(evs[i].events);
}

}  // namespace wsgate::bench
