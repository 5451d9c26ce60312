#include "net/loop.hpp"

#include <uv.h>

#include <array>
#include <ctime>
#include <limits>
#include <mutex>
#include <utility>
#include <vector>

#include "base/check.hpp"
#include "base/log.hpp"

namespace wsgate::net {

namespace {

// One uv_signal_t on the heap, freed by its close callback (STYLE.md §5.2).
class SignalWatcher final : public detail::HandleOwner {
 public:
  SignalWatcher(std::function<void()> fn, std::vector<SignalWatcher*>& registry)
      : fn_(std::move(fn)), registry_(registry) {}

  uv_signal_t handle{};

  void force_close() noexcept override {
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&handle)) != 0) return;
    uv_close(reinterpret_cast<uv_handle_t*>(&handle), &on_closed);
  }

  static void on_signal(uv_signal_t* h, int) noexcept {
    static_cast<SignalWatcher*>(static_cast<detail::HandleOwner*>(h->data))->fn_();
  }

 private:
  static void on_closed(uv_handle_t* h) noexcept {
    auto* self = static_cast<SignalWatcher*>(static_cast<detail::HandleOwner*>(h->data));
    std::erase(self->registry_, self);
    delete self;
  }

  std::function<void()> fn_;
  std::vector<SignalWatcher*>& registry_;  // the loop's list of live watchers
};

class UvLoop final : public Loop {
 public:
  explicit UvLoop(std::size_t read_buffer_size);
  ~UvLoop() override;

  int run_loop();
  void post_fn(std::function<void()> fn);
  void request_stop_any_thread();
  void close_all() noexcept;
  void watch_signal(int signum, std::function<void()> fn);
  void schedule_timer(Timer& t, std::uint64_t delay_ms) noexcept;
  std::size_t defer(detail::Flusher& f) noexcept;
  void cancel(std::size_t slot) noexcept;

  uv_loop_t loop_{};
  std::unique_ptr<std::byte[]> read_buf_;  // shared by every connection's alloc callback
  std::size_t read_buf_size_;
  TimerWheel wheel_;
  std::function<void()> stop_cb_;
  bool stopping_ = false;  // the stop request has been handled (loop thread)
  mutable std::uint64_t wall_at_ = std::numeric_limits<std::uint64_t>::max();  // uv_now of cache
  mutable std::int64_t wall_ = 0;

 private:
  static void on_async(uv_async_t* h) noexcept;
  static void on_wheel_timer(uv_timer_t* h) noexcept;
  static void on_prepare(uv_prepare_t* h) noexcept;
  static void on_flush(uv_handle_t* h) noexcept;
  static UvLoop& self(uv_handle_t* h) noexcept { return *static_cast<UvLoop*>(h->data); }
  void run_posted();
  void handle_stop();
  bool only_own_handles_left() noexcept;
  void close_own_handles() noexcept;
  void rearm_wheel_timer() noexcept;
  bool is_own(const uv_handle_t* h) const noexcept;
  std::array<uv_handle_t*, 5> own_handles() noexcept;

  uv_timer_t wheel_timer_{};  // drives wheel_; stopped while the wheel is empty
  std::uint64_t wheel_due_ = std::numeric_limits<std::uint64_t>::max();  // absolute, or MAX
  uv_async_t async_{};            // post() and request_stop()
  uv_prepare_t prepare_{};        // started by the stop: checks whether run() may end
  uv_check_t flush_check_{};      // after the I/O callbacks: runs flushes_
  uv_prepare_t flush_prepare_{};  // before the wait: runs flushes_ deferred outside I/O callbacks
  std::vector<detail::Flusher*> flushes_;  // deferred flushes in order; null: cancelled
  bool own_closed_ = false;
  bool ran_ = false;
  std::vector<SignalWatcher*> signals_;

  std::mutex post_mu_;  // guards the three members below, and uv_async_send against uv_close
  std::vector<std::function<void()>> posted_;
  bool accepting_posts_ = true;
  bool stop_requested_ = false;
};

UvLoop& impl(Loop& l) noexcept {
  return static_cast<UvLoop&>(l);
}
const UvLoop& impl(const Loop& l) noexcept {
  return static_cast<const UvLoop&>(l);
}

UvLoop::UvLoop(std::size_t read_buffer_size)
    : read_buf_(new std::byte[read_buffer_size]), read_buf_size_(read_buffer_size), wheel_(0) {
  WSGATE_CHECK(read_buffer_size > 0, "Loop read buffer size must be positive");
  WSGATE_CHECK(uv_loop_init(&loop_) == 0, "uv_loop_init failed");
  loop_.data = this;
  uv_timer_init(&loop_, &wheel_timer_);
  uv_async_init(&loop_, &async_, &on_async);
  uv_prepare_init(&loop_, &prepare_);
  uv_check_init(&loop_, &flush_check_);
  uv_prepare_init(&loop_, &flush_prepare_);
  for (uv_handle_t* h : own_handles()) h->data = this;
  wheel_.advance(uv_now(&loop_));
}

UvLoop::~UvLoop() {
  if (!ran_) {  // never run: close what was opened on it and flush the close callbacks
    close_all();
    {
      std::lock_guard lock(post_mu_);
      accepting_posts_ = false;
    }
    close_own_handles();
    uv_run(&loop_, UV_RUN_DEFAULT);
    const int rc = uv_loop_close(&loop_);
    if (rc != 0) WSGATE_LOG(error, "event loop closed with handles open: " << uv_strerror(rc));
  }
}

std::array<uv_handle_t*, 5> UvLoop::own_handles() noexcept {
  return {reinterpret_cast<uv_handle_t*>(&wheel_timer_), reinterpret_cast<uv_handle_t*>(&async_),
          reinterpret_cast<uv_handle_t*>(&prepare_), reinterpret_cast<uv_handle_t*>(&flush_check_),
          reinterpret_cast<uv_handle_t*>(&flush_prepare_)};
}

bool UvLoop::is_own(const uv_handle_t* h) const noexcept {
  for (const uv_handle_t* own : const_cast<UvLoop*>(this)->own_handles()) {
    if (h == own) return true;
  }
  return false;
}

std::size_t UvLoop::defer(detail::Flusher& f) noexcept {
  if (own_closed_) return Loop::kNoFlushSlot;
  if (flushes_.empty()) {
    uv_check_start(&flush_check_,
                   [](uv_check_t* h) { on_flush(reinterpret_cast<uv_handle_t*>(h)); });
    uv_prepare_start(&flush_prepare_,
                     [](uv_prepare_t* h) { on_flush(reinterpret_cast<uv_handle_t*>(h)); });
  }
  flushes_.push_back(&f);
  return flushes_.size() - 1;
}

void UvLoop::cancel(std::size_t slot) noexcept {
  if (slot < flushes_.size()) flushes_[slot] = nullptr;
}

void UvLoop::on_flush(uv_handle_t* h) noexcept {
  UvLoop& l = self(h);
  // Flushes deferred while these run (a drained connection's handler writing again) are
  // appended and run in this same pass.
  for (std::size_t i = 0; i < l.flushes_.size(); ++i) {
    detail::Flusher* f = l.flushes_[i];
    if (f == nullptr) continue;
    l.flushes_[i] = nullptr;
    f->flush();
  }
  l.flushes_.clear();
  uv_check_stop(&l.flush_check_);
  uv_prepare_stop(&l.flush_prepare_);
}

int UvLoop::run_loop() {
  WSGATE_CHECK(!ran_, "Loop::run() called twice");
  ran_ = true;
  // Returns once the prepare callback has closed the loop's own handles (after a stop, when
  // nothing else is open) and their close callbacks have run.
  uv_run(&loop_, UV_RUN_DEFAULT);
  const int rc = uv_loop_close(&loop_);
  if (rc != 0) WSGATE_LOG(error, "event loop closed with handles open: " << uv_strerror(rc));
  return rc;
}

void UvLoop::post_fn(std::function<void()> fn) {
  std::lock_guard lock(post_mu_);
  if (!accepting_posts_) return;
  posted_.push_back(std::move(fn));
  uv_async_send(&async_);
}

void UvLoop::request_stop_any_thread() {
  std::lock_guard lock(post_mu_);
  if (!accepting_posts_) return;
  stop_requested_ = true;
  uv_async_send(&async_);
}

void UvLoop::on_async(uv_async_t* h) noexcept {
  UvLoop& l = self(reinterpret_cast<uv_handle_t*>(h));
  l.run_posted();
  bool stop = false;
  {
    std::lock_guard lock(l.post_mu_);
    stop = l.stop_requested_;
  }
  if (stop && !l.stopping_) l.handle_stop();
}

void UvLoop::run_posted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(post_mu_);
    batch.swap(posted_);
  }
  // Posts made while the batch runs land in posted_ and re-signal the async: next iteration.
  for (auto& fn : batch) fn();
}

void UvLoop::handle_stop() {
  stopping_ = true;
  if (stop_cb_) stop_cb_();
  for (SignalWatcher* w : std::vector<SignalWatcher*>(signals_)) w->force_close();
  uv_prepare_start(&prepare_, &on_prepare);
}

void UvLoop::on_prepare(uv_prepare_t* h) noexcept {
  UvLoop& l = self(reinterpret_cast<uv_handle_t*>(h));
  if (l.only_own_handles_left()) l.close_own_handles();
}

bool UvLoop::only_own_handles_left() noexcept {
  struct Walk {
    const UvLoop* loop;
    bool others;
  } walk{this, false};
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void* arg) {
        auto* w = static_cast<Walk*>(arg);
        if (!w->loop->is_own(h)) w->others = true;
      },
      &walk);
  return !walk.others;
}

void UvLoop::close_own_handles() noexcept {
  if (own_closed_) return;
  {
    std::lock_guard lock(post_mu_);
    // A post that arrived after the last async callback runs first (the async is signalled);
    // this check comes back on the next iteration.
    if (!posted_.empty() && ran_) return;
    accepting_posts_ = false;  // uv_async_send after uv_close would be undefined
  }
  own_closed_ = true;
  flushes_.clear();
  for (uv_handle_t* h : own_handles()) uv_close(h, nullptr);
}

void UvLoop::close_all() noexcept {
  std::vector<uv_handle_t*> handles;
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void* arg) { static_cast<std::vector<uv_handle_t*>*>(arg)->push_back(h); },
      &handles);
  for (uv_handle_t* h : handles) {
    if (is_own(h) || uv_is_closing(h) != 0 || h->data == nullptr) continue;
    static_cast<detail::HandleOwner*>(h->data)->force_close();
  }
}

void UvLoop::watch_signal(int signum, std::function<void()> fn) {
  if (stopping_) return;
  auto* w = new SignalWatcher(std::move(fn), signals_);
  uv_signal_init(&loop_, &w->handle);
  w->handle.data = static_cast<detail::HandleOwner*>(w);
  signals_.push_back(w);
  const int rc = uv_signal_start(&w->handle, &SignalWatcher::on_signal, signum);
  if (rc != 0) {
    WSGATE_LOG(error, "cannot watch signal " << signum << ": " << uv_strerror(rc));
    w->force_close();
  }
}

void UvLoop::schedule_timer(Timer& t, std::uint64_t delay_ms) noexcept {
  const std::uint64_t now = uv_now(&loop_);
  if (wheel_.size() == 0) wheel_.advance(now);  // an empty wheel may have slept: catch up
  // A busy wheel lags behind the loop clock until its next tick: add the lag so the timer is
  // due `delay_ms` from the loop's now, without firing anything from here.
  const std::uint64_t lag = now > wheel_.now_ms() ? now - wheel_.now_ms() : 0;
  // (Delays beyond the wheel's range are clamped there; clamping first keeps the sum in range.)
  const std::uint64_t max = TimerWheel::kMaxDueMs;
  wheel_.schedule(t, delay_ms > max ? max : delay_ms + lag);
  if (own_closed_) return;
  const std::uint64_t tick = TimerWheel::kTickMs;
  const std::uint64_t wake = (t.due_ms() + tick - 1) / tick * tick;
  if (wake < wheel_due_) {
    wheel_due_ = wake;
    uv_timer_start(&wheel_timer_, &on_wheel_timer, wake > now ? wake - now : 0, 0);
  }
}

void UvLoop::on_wheel_timer(uv_timer_t* h) noexcept {
  UvLoop& l = self(reinterpret_cast<uv_handle_t*>(h));
  l.wheel_due_ = std::numeric_limits<std::uint64_t>::max();
  l.wheel_.advance(uv_now(&l.loop_));
  l.rearm_wheel_timer();
}

void UvLoop::rearm_wheel_timer() noexcept {
  if (own_closed_) return;
  const std::uint64_t next = wheel_.next_wakeup_ms();
  if (next == std::numeric_limits<std::uint64_t>::max()) {
    if (wheel_due_ == std::numeric_limits<std::uint64_t>::max()) uv_timer_stop(&wheel_timer_);
    return;
  }
  const std::uint64_t wake = wheel_.now_ms() + next;
  if (wake >= wheel_due_) return;  // a callback already armed the driver sooner
  wheel_due_ = wake;
  const std::uint64_t now = uv_now(&loop_);
  uv_timer_start(&wheel_timer_, &on_wheel_timer, wake > now ? wake - now : 0, 0);
}

}  // namespace

std::unique_ptr<Loop> Loop::create(std::size_t read_buffer_size) {
  return std::make_unique<UvLoop>(read_buffer_size);
}

Loop::~Loop() = default;

int Loop::run() {
  return impl(*this).run_loop();
}

void Loop::post(std::function<void()> fn) {
  impl(*this).post_fn(std::move(fn));
}

void Loop::request_stop() {
  impl(*this).request_stop_any_thread();
}

void Loop::set_stop_callback(std::function<void()> fn) {
  impl(*this).stop_cb_ = std::move(fn);
}

void Loop::force_close_all() {
  impl(*this).close_all();
}

bool Loop::stopping() const noexcept {
  return impl(*this).stopping_;
}

void Loop::on_signal(int signum, std::function<void()> fn) {
  impl(*this).watch_signal(signum, std::move(fn));
}

std::uint64_t Loop::now_ms() const noexcept {
  return uv_now(&impl(*this).loop_);
}

std::int64_t Loop::wall_time() const noexcept {
  const UvLoop& l = impl(*this);
  const std::uint64_t now = uv_now(&l.loop_);
  if (l.wall_at_ != now) {  // refreshed at most once per loop-clock millisecond
    l.wall_at_ = now;
    l.wall_ = static_cast<std::int64_t>(std::time(nullptr));
  }
  return l.wall_;
}

TimerWheel& Loop::timers() noexcept {
  return impl(*this).wheel_;
}

void Loop::schedule(Timer& t, std::uint64_t delay_ms) noexcept {
  impl(*this).schedule_timer(t, delay_ms);
}

void* Loop::native() noexcept {
  return &impl(*this).loop_;
}

MutableByteView Loop::read_buffer() noexcept {
  UvLoop& l = impl(*this);
  return {l.read_buf_.get(), l.read_buf_size_};
}

std::size_t Loop::defer_flush(detail::Flusher& f) noexcept {
  return impl(*this).defer(f);
}

void Loop::cancel_flush(std::size_t slot) noexcept {
  impl(*this).cancel(slot);
}

}  // namespace wsgate::net
