#include "proto/ws_deflate.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/check.hpp"

namespace wsgate::proto {

namespace {

// RFC 7692 §7.2.1: the empty stored block Z_SYNC_FLUSH ends with, removed by the sender and
// appended again by the receiver (§7.2.2).
constexpr std::array<std::byte, 4> kTail = {std::byte{0x00}, std::byte{0x00}, std::byte{0xff},
                                            std::byte{0xff}};

// zlib counts in uInt (32 bits): larger spans are fed in pieces of at most this size.
constexpr std::size_t kMaxZlibChunk = std::size_t{1} << 30;
constexpr std::size_t kMinOutputRoom = 4096;
// zlib.h: with Z_SYNC_FLUSH keep avail_out above 6, or flush markers may repeat.
constexpr std::size_t kMinFlushRoom = 64;

// zlib allocation hooks that count live bytes per stream (opaque points at the counter), so
// memory_usage() reports what zlib really holds rather than a formula. Each block carries its
// size in a max_align_t-sized header. Returning null makes zlib report Z_MEM_ERROR.
constexpr std::size_t kAllocHeader = alignof(std::max_align_t);

voidpf counted_alloc(voidpf opaque, uInt items, uInt size) noexcept {
  const std::size_t bytes = std::size_t{items} * size;
  auto* block = static_cast<unsigned char*>(std::malloc(bytes + kAllocHeader));
  if (block == nullptr) return Z_NULL;
  std::memcpy(block, &bytes, sizeof bytes);
  *static_cast<std::size_t*>(opaque) += bytes;
  return block + kAllocHeader;
}

void counted_free(voidpf opaque, voidpf address) noexcept {
  if (address == Z_NULL) return;
  unsigned char* block = static_cast<unsigned char*>(address) - kAllocHeader;
  std::size_t bytes = 0;
  std::memcpy(&bytes, block, sizeof bytes);
  *static_cast<std::size_t*>(opaque) -= bytes;
  std::free(block);
}

void init_hooks(z_stream& z, std::size_t* counter) noexcept {
  z.zalloc = counted_alloc;
  z.zfree = counted_free;
  z.opaque = counter;
}

Bytef* zptr(const std::byte* p) noexcept {
  // zlib's next_in is not const-qualified (ZLIB_CONST is off) but it never writes through it.
  return const_cast<Bytef*>(reinterpret_cast<const Bytef*>(p));
}

// Grows `out` by `want` bytes (capped per zlib call) for zlib to write into; the caller shrinks it
// back to what zlib produced. Only `want` is zero-filled: growing into all spare capacity would
// memset a buffer that once held a 16 MiB message on every tiny message after it.
std::size_t grow_for_output(Bytes& out, std::size_t want) {
  const std::size_t room = std::min(want, kMaxZlibChunk);
  out.resize(out.size() + room);
  return room;
}

class DeflateCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "permessage-deflate"; }

  std::string message(int ev) const override {
    switch (static_cast<DeflateErrc>(ev)) {
      case DeflateErrc::message_too_big: return "inflated message exceeds the limit";
      case DeflateErrc::corrupt_data: return "compressed message is not valid DEFLATE data";
      case DeflateErrc::truncated_data: return "compressed message ends inside a DEFLATE block";
    }
    return "unknown permessage-deflate error " + std::to_string(ev);
  }

  // close_code_for() branches on these: 1009 for the cap, 1007 for bad data (as Node ws does).
  std::error_condition default_error_condition(int ev) const noexcept override {
    switch (static_cast<DeflateErrc>(ev)) {
      case DeflateErrc::message_too_big: return make_error_condition(WsCondition::limit_exceeded);
      case DeflateErrc::corrupt_data:
      case DeflateErrc::truncated_data: return make_error_condition(WsCondition::invalid_payload);
    }
    return {ev, *this};
  }
};

}  // namespace

const std::error_category& deflate_category() noexcept {
  static const DeflateCategory category;
  return category;
}

DeflaterOptions deflater_options(const DeflateParams& agreed, DeflateRole self, int level,
                                 int mem_level) noexcept {
  const bool server = self == DeflateRole::server;
  DeflaterOptions o;
  o.level = level;
  o.mem_level = mem_level;
  o.window_bits = server ? agreed.server_max_window_bits : agreed.client_max_window_bits;
  o.no_context_takeover =
      server ? agreed.server_no_context_takeover : agreed.client_no_context_takeover;
  return o;
}

InflaterOptions inflater_options(const DeflateParams& agreed, DeflateRole self) noexcept {
  const bool server = self == DeflateRole::server;
  InflaterOptions o;
  o.window_bits = server ? agreed.client_max_window_bits : agreed.server_max_window_bits;
  o.no_context_takeover =
      server ? agreed.client_no_context_takeover : agreed.server_no_context_takeover;
  return o;
}

// ---------------------------------------------------------------------------------------------
// WsDeflater
// ---------------------------------------------------------------------------------------------

// Heap-allocated so the z_stream never moves: zlib's internal state points back at it.
struct WsDeflater::State {
  z_stream z{};
  std::size_t allocated = 0;  // live bytes allocated by zlib for `z`
  bool used = false;          // a message went through since init (a reset is due)
  ~State() { deflateEnd(&z); }
};

WsDeflater::WsDeflater(DeflaterOptions options) : options_(options) {
  WSGATE_CHECK(options_.level >= 0 && options_.level <= 9, "deflate level must be 0..9");
  WSGATE_CHECK(options_.window_bits >= 8 && options_.window_bits <= 15,
               "deflate window_bits must be 8..15");
  WSGATE_CHECK(options_.mem_level >= 1 && options_.mem_level <= 9,
               "deflate mem_level must be 1..9");
}

WsDeflater::~WsDeflater() = default;
WsDeflater::WsDeflater(WsDeflater&&) noexcept = default;
WsDeflater& WsDeflater::operator=(WsDeflater&&) noexcept = default;

void WsDeflater::ensure_state() {
  if (state_) return;
  auto st = std::make_unique<State>();
  init_hooks(st->z, &st->allocated);
  // Negative window bits select raw DEFLATE (no zlib header or checksum), as RFC 7692 needs.
  // zlib rejects -8, hence 9 (see DeflaterOptions::window_bits).
  const int bits = std::max(options_.window_bits, 9);
  const int rc = deflateInit2(&st->z, options_.level, Z_DEFLATED, -bits, options_.mem_level,
                              Z_DEFAULT_STRATEGY);
  WSGATE_CHECK(rc == Z_OK, "deflateInit2 failed (out of memory)");
  state_ = std::move(st);
}

void WsDeflater::compress(ByteView in, Bytes& out) {
  ensure_state();
  z_stream& z = state_->z;
  if (options_.no_context_takeover && state_->used) {
    WSGATE_CHECK(deflateReset(&z) == Z_OK, "deflateReset failed");
  }
  state_->used = true;

  const std::size_t start = out.size();
  // deflateBound bounds one Z_FINISH call; the flush marker adds a few bytes. If that is still
  // short, the loop grows the buffer.
  std::size_t want = deflateBound(&z, static_cast<uLong>(std::min(in.size(), kMaxZlibChunk))) + 16;
  for (;;) {
    if (z.avail_in == 0 && !in.empty()) {
      const std::size_t n = std::min(in.size(), kMaxZlibChunk);
      z.next_in = zptr(in.data());
      z.avail_in = static_cast<uInt>(n);
      in = in.subspan(n);
    }
    const int flush = in.empty() ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    const std::size_t used = out.size();
    const std::size_t room = grow_for_output(out, std::max(want, kMinFlushRoom));
    z.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    z.avail_out = static_cast<uInt>(room);
    const int rc = deflate(&z, flush);
    out.resize(out.size() - z.avail_out);
    // Z_BUF_ERROR only means "no progress possible", e.g. an empty message right after the
    // previous message's flush: zlib then emits nothing (handled below).
    WSGATE_CHECK(rc == Z_OK || rc == Z_BUF_ERROR, "deflate failed");
    // zlib.h: a flush is complete when deflate() returns with avail_out != 0.
    if (flush == Z_SYNC_FLUSH && z.avail_out != 0) break;
    want = std::max(kMinOutputRoom, out.size() - start);
  }

  const std::size_t produced = out.size() - start;
  if (produced == 0) {
    // Nothing pending and no input: the stream is byte-aligned after the previous flush, so an
    // empty stored block minus its LEN/NLEN is this one byte (RFC 7692 §7.2.3.6).
    out.push_back(std::byte{0x00});
    return;
  }
  WSGATE_CHECK(produced > kTail.size() && std::equal(kTail.begin(), kTail.end(), out.end() - 4),
               "Z_SYNC_FLUSH output must end with 00 00 ff ff");
  out.resize(out.size() - kTail.size());  // RFC 7692 §7.2.1
}

void WsDeflater::release() noexcept {
  state_.reset();
}

std::size_t WsDeflater::memory_usage() const noexcept {
  return state_ ? state_->allocated : 0;
}

// ---------------------------------------------------------------------------------------------
// WsInflater
// ---------------------------------------------------------------------------------------------

struct WsInflater::State {
  z_stream z{};
  std::size_t allocated = 0;  // live bytes allocated by zlib for `z`
  bool used = false;          // a message went through since init (a reset may be due)
  bool in_message = false;    // feed() was called and finish() not yet
  bool stream_ended = false;  // this message's data ended with a BFINAL block
  std::size_t produced = 0;   // inflated bytes of the current message (<= the cap)
  std::size_t consumed = 0;   // compressed bytes fed for the current message
  ~State() { inflateEnd(&z); }
};

WsInflater::WsInflater(InflaterOptions options) : options_(options) {
  WSGATE_CHECK(options_.window_bits >= 8 && options_.window_bits <= 15,
               "inflate window_bits must be 8..15");
}

WsInflater::~WsInflater() = default;
WsInflater::WsInflater(WsInflater&&) noexcept = default;
WsInflater& WsInflater::operator=(WsInflater&&) noexcept = default;

void WsInflater::ensure_state() {
  if (state_) return;
  auto st = std::make_unique<State>();
  init_hooks(st->z, &st->allocated);
  // A window larger than the peer's accepts everything the peer may send. 8 becomes 9 for
  // peers whose zlib compresses "8" with 9 (zlib >= 1.2.9 does so silently in zlib-wrapped
  // mode, and older versions could reach past 256 bytes with 8).
  const int bits = std::max(options_.window_bits, 9);
  const int rc = inflateInit2(&st->z, -bits);
  WSGATE_CHECK(rc == Z_OK, "inflateInit2 failed (out of memory)");
  state_ = std::move(st);
}

std::error_code WsInflater::fail(DeflateErrc e) noexcept {
  error_ = make_error_code(e);
  return error_;
}

// RFC 7692 §7.2.3.4: a peer may end a message with a BFINAL block; the next message then starts
// a new DEFLATE stream. zlib needs a reset to read one, and a reset forgets the window, so with
// context takeover the window is saved and installed again as the new stream's dictionary.
void WsInflater::carry_window_over_stream_end() {
  z_stream& z = state_->z;
  Bytes window(std::size_t{1} << 15);
  uInt len = 0;
  WSGATE_CHECK(inflateGetDictionary(&z, reinterpret_cast<Bytef*>(window.data()), &len) == Z_OK,
               "inflateGetDictionary failed");
  WSGATE_CHECK(inflateReset(&z) == Z_OK, "inflateReset failed");
  if (len > 0) {
    WSGATE_CHECK(inflateSetDictionary(&z, reinterpret_cast<Bytef*>(window.data()), len) == Z_OK,
                 "inflateSetDictionary failed");
  }
}

// Inflates `in` (at most kMaxZlibChunk bytes) into `out`, never letting the message's output
// pass `max_size`: zlib only ever gets room for the bytes still allowed, and once none are left
// a one-byte probe tells whether the input holds more output (then the cap is exceeded). With
// `tail`, inflate stops at block boundaries (Z_BLOCK) so finish() can check where it stopped.
std::error_code WsInflater::run(ByteView in, bool tail, Bytes& out, std::size_t max_size) {
  State& st = *state_;
  z_stream& z = st.z;
  z.next_in = zptr(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  for (;;) {
    if (st.stream_ended) return {};  // bytes after a BFINAL block are ignored (§7.2.3.4)
    const std::size_t allowed = max_size - st.produced;
    Bytef probe = 0;
    const std::size_t base = out.size();
    std::size_t room = 1;
    if (allowed > 0) {
      room = grow_for_output(out, std::min(allowed, std::max(kMinOutputRoom, out.size())));
      room = std::min(room, allowed);
      z.next_out = reinterpret_cast<Bytef*>(out.data() + base);
    } else {
      z.next_out = &probe;
    }
    z.avail_out = static_cast<uInt>(room);
    const int rc = ::inflate(&z, tail ? Z_BLOCK : Z_NO_FLUSH);
    const std::size_t got = room - z.avail_out;
    if (allowed > 0) out.resize(base + got);
    if (allowed == 0 && got > 0) return fail(DeflateErrc::message_too_big);
    st.produced += got;
    switch (rc) {
      case Z_OK: break;
      case Z_STREAM_END:
        st.stream_ended = true;
        if (!options_.no_context_takeover) carry_window_over_stream_end();
        return {};
      case Z_BUF_ERROR: return {};  // no progress possible: this input is used up
      case Z_DATA_ERROR:
      case Z_NEED_DICT: return fail(DeflateErrc::corrupt_data);
      default: WSGATE_CHECK(false, "inflate failed (out of memory or misuse)");
    }
    if (z.avail_in == 0 && z.avail_out != 0) return {};
  }
}

std::error_code WsInflater::feed(ByteView in, Bytes& out, std::size_t max_size) {
  if (error_) return error_;
  ensure_state();
  State& st = *state_;
  if (!st.in_message) {
    // With context takeover a stream that ended (BFINAL) was already reset, keeping its window.
    if (st.used && options_.no_context_takeover) {
      WSGATE_CHECK(inflateReset(&st.z) == Z_OK, "inflateReset failed");
    }
    st.used = st.in_message = true;
    st.stream_ended = false;
    st.produced = st.consumed = 0;
  }
  st.consumed += in.size();
  while (!in.empty()) {
    const std::size_t n = std::min(in.size(), kMaxZlibChunk);
    if (const std::error_code ec = run(in.first(n), false, out, max_size)) return ec;
    in = in.subspan(n);
  }
  return {};
}

std::error_code WsInflater::finish(Bytes& out, std::size_t max_size) {
  if (const std::error_code ec = feed({}, out, max_size)) return ec;  // opens an empty message
  State& st = *state_;
  st.in_message = false;
  // An empty payload is taken as an empty message (see the class comment).
  if (st.consumed == 0 || st.stream_ended) return {};
  if (const std::error_code ec = run(kTail, true, out, max_size)) return ec;
  if (st.stream_ended) return {};
  // inflate.c sets bit 128 of data_type when it stopped right after a block: with Z_BLOCK that
  // is exactly "payload + tail ended on a block boundary" (RFC 7692 §7.2.2).
  if (st.z.avail_in != 0 || (st.z.data_type & 128) == 0) return fail(DeflateErrc::truncated_data);
  return {};
}

std::error_code WsInflater::inflate(ByteView in, Bytes& out, std::size_t max_size) {
  if (const std::error_code ec = feed(in, out, max_size)) return ec;
  return finish(out, max_size);
}

void WsInflater::release() noexcept {
  state_.reset();
  error_.clear();
}

std::size_t WsInflater::memory_usage() const noexcept {
  return state_ ? state_->allocated : 0;
}

}  // namespace wsgate::proto
