// WebSocket upgrade: 101 relayed, then bytes tunnelled both ways.
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"

#include <gtest/gtest.h>

namespace keel::test {
namespace {

TEST(WebSocket, UpgradeIsTunnelledBothWays) {
  TestBackend backend;
  backend.set_reply(Reply::upgrade_echo());
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  ASSERT_FALSE(client.send_raw("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
  auto head = client.read_raw_until("\r\n\r\n");
  ASSERT_FALSE(head.ec) << head.ec.message();
  EXPECT_EQ(head.data.substr(0, 12), "HTTP/1.1 101") << head.data;
  EXPECT_NE(head.data.find("Upgrade: websocket"), std::string::npos) << head.data;
  auto seen = backend.next_request();
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->at("Upgrade"), "websocket");
  EXPECT_EQ(seen->at("Sec-WebSocket-Key"), "dGhlIHNhbXBsZSBub25jZQ==");

  for (const std::string& message : std::vector<std::string>{"hello", std::string(100'000, 'w'), std::string("\0\x81\xff", 3)}) {
    ASSERT_FALSE(client.send_raw(message));
    auto echoed = client.read_raw_exactly(message.size());
    ASSERT_FALSE(echoed.ec) << echoed.ec.message();
    EXPECT_EQ(echoed.data, message);
  }
  client.close();
  EXPECT_TRUE(wait_until([&] { return backend.open_connection_count() == 0; }, std::chrono::seconds(3)));
}

TEST(WebSocket, UpgradeOtherThanWebSocketIsNotForwarded) {
  TestBackend backend;
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  auto response = client.get("/", {{"Connection", "Upgrade, HTTP2-Settings"}, {"Upgrade", "h2c"},
                                   {"HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"}});
  EXPECT_EQ(response.result(), http::status::ok);
  auto seen = backend.next_request();
  ASSERT_TRUE(seen);
  EXPECT_FALSE(seen->has("Upgrade"));
  EXPECT_FALSE(seen->has("HTTP2-Settings"));
}

TEST(WebSocket, UnrequestedSwitchingProtocolsIs502) {
  TestBackend backend;
  backend.set_reply(Reply::upgrade_echo());
  KeelUnderTest keel{single_pool_config({backend.address()})};
  TestClient client{keel.address()};
  EXPECT_EQ(client.get("/").result(), http::status::bad_gateway);
}

}  // namespace
}  // namespace keel::test
