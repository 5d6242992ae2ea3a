// A backend's response is checked before anything of it reaches the client: a
// status line outside 100-599 is an invalid response (502), nothing of it is
// relayed, and the backend connection it came on is closed, not pooled.
#include "tests/integration/keel_under_test.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/test_client.hpp"

#include <gtest/gtest.h>

#include <string>

namespace keel::test {
namespace {

TEST(UpstreamValidation, StatusOutsideOneHundredToFiveNinetyNineIs502AndNotRelayed) {
  for (const std::string code : {"999", "000", "099", "600"}) {
    SCOPED_TRACE(code);
    TestBackend backend;
    // keep_alive: the backend leaves its connection open, so only keel can close it.
    backend.set_reply(Reply::garbage("HTTP/1.1 " + code + " X\r\nContent-Length: 6\r\nX-Leak: yes\r\n\r\nsecret"));
    KeelUnderTest keel{single_pool_config({backend.address()})};
    TestClient client{keel.address()};
    const auto response = client.get("/");
    EXPECT_EQ(response.result_int(), 502) << response.ec.message();
    EXPECT_EQ(response.body().find("secret"), std::string::npos) << response.body();
    EXPECT_EQ(response["X-Leak"], "");
    EXPECT_EQ(backend.request_count(), 1u);

    // Not pooled: keel closes the connection the invalid response came on, and
    // the next request to the same backend opens a fresh one.
    EXPECT_TRUE(wait_until([&] { return backend.open_connection_count() == 0; }, kDefaultDeadline))
        << "keel kept the backend connection open";
    backend.set_reply(Reply::text("fine"));
    TestClient next{keel.address()};
    const auto good = next.get("/");
    EXPECT_EQ(good.result_int(), 200);
    EXPECT_EQ(good.body(), "fine");
    EXPECT_EQ(backend.connection_count(), 2u);
  }
}

TEST(UpstreamValidation, BoundaryStatusesAreRelayed) {
  for (const auto status : {http::status::ok, static_cast<http::status>(599)}) {
    TestBackend backend;
    backend.set_reply(Reply::text("x", status));
    KeelUnderTest keel{single_pool_config({backend.address()})};
    EXPECT_EQ(TestClient{keel.address()}.get("/").result_int(), static_cast<int>(status));
  }
}

}  // namespace
}  // namespace keel::test
