#include "proxy/tls/ticket_keys.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace keel::tls {
namespace {

TicketKey random_key() {
  TicketKey key;
  if (RAND_bytes(key.name.data(), static_cast<int>(key.name.size())) != 1 ||
      RAND_bytes(key.cipher_key.data(), static_cast<int>(key.cipher_key.size())) != 1 ||
      RAND_bytes(key.hmac_key.data(), static_cast<int>(key.hmac_key.size())) != 1)
    throw std::runtime_error("cannot generate a session ticket key: no randomness");
  return key;
}

}  // namespace

TicketKeyRing::TicketKeyRing(Clock::duration rotation)
    : rotation_(rotation), current_(random_key()), rotated_at_(Clock::now()) {}

void TicketKeyRing::rotate_if_due(Clock::time_point now) {
  if (now - rotated_at_ < rotation_) return;
  // Only the previous period's key stays: after a long quiet time both are
  // replaced, so nothing older than two periods ever decrypts.
  if (now - rotated_at_ < 2 * rotation_)
    previous_ = current_;
  else
    previous_.reset();
  current_ = random_key();
  rotated_at_ = now;
}

TicketKey TicketKeyRing::current(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  rotate_if_due(now);
  return current_;
}

std::optional<TicketKey> TicketKeyRing::find(const unsigned char* name, Clock::time_point now,
                                             bool& is_current) {
  std::lock_guard lock(mutex_);
  rotate_if_due(now);
  if (std::equal(current_.name.begin(), current_.name.end(), name)) {
    is_current = true;
    return current_;
  }
  if (previous_ && std::equal(previous_->name.begin(), previous_->name.end(), name)) {
    is_current = false;
    return previous_;
  }
  return std::nullopt;
}

TicketKeyRing& TicketKeyRing::process_wide() {
  static TicketKeyRing ring;
  return ring;
}

}  // namespace keel::tls
