// Session ticket keys shared by every TLS listener of the process, rotated on
// a fixed period. A ticket made with the current key resumes; one made with the
// previous key still resumes and gets a fresh ticket; older ones fall back to a
// full handshake. Keys live in memory only, so a restart invalidates tickets,
// and after two periods a stolen key no longer opens recorded sessions.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace keel::tls {

struct TicketKey {
  std::array<unsigned char, 16> name{};
  std::array<unsigned char, 32> cipher_key{};  // AES-256-CBC
  std::array<unsigned char, 32> hmac_key{};    // HMAC-SHA256
};

// Any thread: handshakes on every worker use it. The lock is held for a copy of
// one key, once per full or resumed handshake, never per request.
class TicketKeyRing {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::hours kRotation{1};

  explicit TicketKeyRing(Clock::duration rotation = kRotation);

  // The key to encrypt a new ticket with; rotates first when the period is over.
  TicketKey current(Clock::time_point now);
  // The key named `name`, if still held; `is_current` tells whether the ticket
  // should be renewed (false: made with the previous key).
  std::optional<TicketKey> find(const unsigned char* name, Clock::time_point now, bool& is_current);

  // The ring the listeners use.
  static TicketKeyRing& process_wide();

 private:
  void rotate_if_due(Clock::time_point now);  // with mutex_ held

  const Clock::duration rotation_;
  std::mutex mutex_;
  TicketKey current_;
  std::optional<TicketKey> previous_;
  Clock::time_point rotated_at_;
};

}  // namespace keel::tls
