#include "proxy/tls/ticket_keys.hpp"

#include <gtest/gtest.h>

namespace keel::tls {
namespace {

using namespace std::chrono_literals;
using Clock = TicketKeyRing::Clock;

TEST(TicketKeyRing, KeepsOneKeyForAPeriodThenRotatesKeepingThePrevious) {
  const auto start = Clock::now();
  TicketKeyRing ring(1h);
  const TicketKey first = ring.current(start);
  EXPECT_EQ(ring.current(start + 59min).name, first.name);
  bool is_current = false;
  ASSERT_TRUE(ring.find(first.name.data(), start + 30min, is_current));
  EXPECT_TRUE(is_current);

  const TicketKey second = ring.current(start + 61min);
  EXPECT_NE(second.name, first.name);
  EXPECT_NE(second.cipher_key, first.cipher_key);
  EXPECT_NE(second.hmac_key, first.hmac_key);
  const auto previous = ring.find(first.name.data(), start + 62min, is_current);
  ASSERT_TRUE(previous);
  EXPECT_FALSE(is_current);  // decrypts, and the ticket gets renewed
  EXPECT_EQ(previous->cipher_key, first.cipher_key);

  // One more period: the first key is gone, the second is now the previous one.
  ring.current(start + 122min);
  EXPECT_FALSE(ring.find(first.name.data(), start + 122min, is_current));
  EXPECT_TRUE(ring.find(second.name.data(), start + 122min, is_current));
  EXPECT_FALSE(is_current);
}

TEST(TicketKeyRing, AfterALongQuietTimeNoOldKeySurvives) {
  const auto start = Clock::now();
  TicketKeyRing ring(1h);
  const TicketKey first = ring.current(start);
  bool is_current = false;
  EXPECT_FALSE(ring.find(first.name.data(), start + 3h, is_current));
  EXPECT_NE(ring.current(start + 3h).name, first.name);
}

TEST(TicketKeyRing, UnknownNamesAreNotFound) {
  TicketKeyRing ring(1h);
  const unsigned char unknown[16] = {};
  bool is_current = false;
  EXPECT_FALSE(ring.find(unknown, Clock::now(), is_current));
}

}  // namespace
}  // namespace keel::tls
