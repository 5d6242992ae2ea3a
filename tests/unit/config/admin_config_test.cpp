#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "proxy/config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace keel::config {
namespace {

// Line 5 is "admin:", line 6 its first key.
std::string with_admin(const std::string& admin_body) { return kListener + kPool + "admin:\n" + admin_body; }

const std::string kNotLoopback = " is not a loopback address: set admin.token_file or KEEL_ADMIN_TOKEN";

struct LoopbackCase {
  std::string address;
  std::string endpoint;  // "address port"
};

TEST(AdminConfig, LoopbackAddressNeedsNoToken) {
  const ScopedEnvironment no_token("KEEL_ADMIN_TOKEN", std::nullopt);
  const std::vector<LoopbackCase> cases = {
      {"127.0.0.1:9901", "127.0.0.1 9901"}, {"127.1.2.3:9901", "127.1.2.3 9901"},
      {"\"[::1]:9901\"", "::1 9901"},       {"localhost:9901", "127.0.0.1 9901"},
      {"127.0.0.1:0", "127.0.0.1 0"},       {"\"[::ffff:127.0.0.1]:9901\"", "::ffff:127.0.0.1 9901"},
  };
  for (const auto& c : cases) {
    const Config config = load_ok(with_admin("  address: " + c.address + "\n"));
    ASSERT_TRUE(config.admin) << c.address;
    const auto& endpoint = config.admin->address.endpoint;
    EXPECT_EQ(endpoint.address().to_string() + " " + std::to_string(endpoint.port()), c.endpoint);
    EXPECT_EQ(config.admin->token, "");
    EXPECT_EQ(config.admin->token_file, "");
  }
}

TEST(AdminConfig, OtherAddressesNeedAToken) {
  const ScopedEnvironment no_token("KEEL_ADMIN_TOKEN", std::nullopt);
  expect_errors({
      {with_admin("  address: 0.0.0.0:9901\n"), {"6:12: admin.address 0.0.0.0:9901" + kNotLoopback}},
      {with_admin("  address: \"[::]:9901\"\n"), {"6:12: admin.address [::]:9901" + kNotLoopback}},
      {with_admin("  address: 10.0.0.1:9901\n"), {"6:12: admin.address 10.0.0.1:9901" + kNotLoopback}},
      {with_admin("  address: \"[::ffff:10.0.0.1]:9901\"\n"),
       {"6:12: admin.address [::ffff:10.0.0.1]:9901" + kNotLoopback}},
  });
  // An empty variable is no token.
  const ScopedEnvironment empty("KEEL_ADMIN_TOKEN", "");
  expect_errors(
      {{with_admin("  address: 0.0.0.0:9901\n"), {"6:12: admin.address 0.0.0.0:9901" + kNotLoopback}}});
}

TEST(AdminConfig, TokenFileIsReadAndTrimmed) {
  const ScopedEnvironment no_token("KEEL_ADMIN_TOKEN", std::nullopt);
  const TemporaryDirectory directory;
  const std::vector<std::string> contents = {"s3cr3t-Token_~+/=", "s3cr3t-Token_~+/=\n",
                                             "s3cr3t-Token_~+/= \t\r\n\n"};
  for (const auto& content : contents) {
    const std::string path = directory.file("token", content);
    const Config config = load_ok(with_admin("  address: 0.0.0.0:9901\n  token_file: " + path + "\n"));
    ASSERT_TRUE(config.admin);
    EXPECT_EQ(config.admin->address.text, "0.0.0.0:9901");
    EXPECT_EQ(config.admin->token, "s3cr3t-Token_~+/=");
    EXPECT_EQ(config.admin->token_file, path);
  }
}

TEST(AdminConfig, EnvironmentTokenWhenNoTokenFile) {
  const ScopedEnvironment token("KEEL_ADMIN_TOKEN", "from-env");
  const Config config = load_ok(with_admin("  address: 0.0.0.0:9901\n"));
  ASSERT_TRUE(config.admin);
  EXPECT_EQ(config.admin->token, "from-env");
  EXPECT_EQ(config.admin->token_file, "");
  // A loopback address takes the token too: it is then required.
  EXPECT_EQ(load_ok(with_admin("  address: 127.0.0.1:9901\n")).admin->token, "from-env");
}

TEST(AdminConfig, TokenFileWinsOverTheEnvironment) {
  const ScopedEnvironment token("KEEL_ADMIN_TOKEN", "from-env");
  const TemporaryDirectory directory;
  const std::string path = directory.file("token", "from-file\n");
  const Config config = load_ok(with_admin("  address: 0.0.0.0:9901\n  token_file: " + path + "\n"));
  ASSERT_TRUE(config.admin);
  EXPECT_EQ(config.admin->token, "from-file");
}

TEST(AdminConfig, UnusableTokenFile) {
  const ScopedEnvironment no_token("KEEL_ADMIN_TOKEN", std::nullopt);
  const TemporaryDirectory directory;
  const std::string missing = directory.path() + "/missing";
  const std::string empty = directory.file("empty", "");
  const std::string blank = directory.file("blank", " \n\r\n\t\n");
  const std::string two_lines = directory.file("two_lines", "TOPSECRET\nTOPSECRET\n");
  const std::string spaced = directory.file("spaced", "TOPSECRET TOPSECRET\n");
  const std::string control = directory.file("control", "TOPSECRET\x01\n");
  const std::string huge = directory.file("huge", std::string(4'097, 'x'));
  const std::string at_limit = directory.file("at_limit", std::string(4'095, 'x') + "\n");
  const std::string not_one_line = ": it must be one line of visible ASCII characters, without spaces";
  // Line 7 is "  token_file: PATH": the value starts at column 15.
  const auto case_for = [](const std::string& path, const std::string& problem) {
    return ErrorCase{with_admin("  address: 0.0.0.0:9901\n  token_file: " + path + "\n"),
                     {"7:15: admin.token_file '" + path + "'" + problem}};
  };
  const std::vector<ErrorCase> cases = {
      case_for(missing, ": cannot read it: No such file or directory"),
      case_for(empty, ": it is empty"),
      case_for(blank, ": it is empty"),
      case_for(two_lines, not_one_line),
      case_for(spaced, not_one_line),
      case_for(control, not_one_line),
      case_for(huge, ": it is larger than 4096 bytes"),
      case_for(directory.path(), ": it is a directory"),
  };
  expect_errors(cases);
  // Never the token in a message.
  for (const auto& c : cases)
    for (const auto& error : errors_of(c.yaml))
      EXPECT_EQ(error.find("TOPSECRET"), std::string::npos) << error;
  // The limit is on the file, newline included.
  EXPECT_EQ(
      load_ok(with_admin("  address: 0.0.0.0:9901\n  token_file: " + at_limit + "\n")).admin->token.size(),
      4'095u);
  expect_errors({
      {with_admin("  address: 0.0.0.0:9901\n  token_file: \"\"\n"),
       {"7:15: admin.token_file must not be empty"}},
      {with_admin("  address: 0.0.0.0:9901\n  token_file: [a]\n"),
       {"7:15: expected a string for admin.token_file, got a list"}},
  });
}

TEST(AdminConfig, UnusableEnvironmentToken) {
  const ScopedEnvironment token("KEEL_ADMIN_TOKEN", "TOPSECRET\n");
  const auto errors = errors_of(with_admin("  address: 0.0.0.0:9901\n"));
  EXPECT_EQ(errors,
            std::vector<std::string>{
                "6:3: KEEL_ADMIN_TOKEN must be one line of visible ASCII characters, without spaces"});
}

TEST(AdminConfig, StructureErrors) {
  const ScopedEnvironment no_token("KEEL_ADMIN_TOKEN", std::nullopt);
  expect_errors({
      {with_admin("  address: 127.0.0.1:9901\n  tokenfile: /etc/keel/token\n"),
       {"7:3: unknown key 'tokenfile' in admin; did you mean 'token_file'?"}},
      {with_admin("  token_file: \"\"\n"),
       {"6:3: missing required key 'address' in admin", "6:15: admin.token_file must not be empty"}},
      {kListener + kPool + "admin: 127.0.0.1:9901\n",
       {"5:8: expected a mapping for admin, got '127.0.0.1:9901'"}},
      {kListener + kPool + "admin:\n", {"5:1: expected a mapping for admin, got nothing"}},
      {with_admin("  address: 127.0.0.1\n"),
       {"6:12: invalid address '127.0.0.1' for admin.address: missing port (expected host:port)"}},
      {with_admin("  address: 127.0.0.1:9901\n  address: 127.0.0.1:9902\n"),
       {"7:3: duplicate key 'address' in admin (first at line 6)"}},
  });
}

TEST(AdminConfig, MustNotShareAListenersPort) {
  const ScopedEnvironment no_token("KEEL_ADMIN_TOKEN", std::nullopt);
  const auto config = [](const std::string& listener, const std::string& admin) {
    return "listeners:\n  - address: \"" + listener + "\"\n" + kPool + "admin:\n  address: \"" + admin +
           "\"\n";
  };
  const std::string own_port = ": the admin API needs its own port";
  expect_errors({
      {config("127.0.0.1:8080", "127.0.0.1:8080"),
       {"6:12: admin.address 127.0.0.1:8080 overlaps the listener 127.0.0.1:8080" + own_port}},
      {config("0.0.0.0:8080", "127.0.0.1:8080"),
       {"6:12: admin.address 127.0.0.1:8080 overlaps the listener 0.0.0.0:8080" + own_port}},
      {config("[::]:8080", "127.0.0.1:8080"),
       {"6:12: admin.address 127.0.0.1:8080 overlaps the listener [::]:8080" + own_port}},
      {config("[::]:8080", "[::1]:8080"),
       {"6:12: admin.address [::1]:8080 overlaps the listener [::]:8080" + own_port}},
  });
  // Other ports, ephemeral ports and an IPv4 wildcard against IPv6 loopback do not collide.
  EXPECT_TRUE(load_ok(config("0.0.0.0:8080", "127.0.0.1:9901")).admin);
  EXPECT_TRUE(load_ok(config("127.0.0.1:0", "127.0.0.1:0")).admin);
  EXPECT_TRUE(load_ok(config("0.0.0.0:8080", "[::1]:8080")).admin);
  EXPECT_TRUE(load_ok(config("127.0.0.2:8080", "127.0.0.1:8080")).admin);
}

// A token_file that fails is its own error; the loopback rule is not piled on.
TEST(AdminConfig, OneErrorForABadTokenFileOnAPublicAddress) {
  const ScopedEnvironment no_token("KEEL_ADMIN_TOKEN", std::nullopt);
  expect_errors(
      {{with_admin("  address: 0.0.0.0:9901\n  token_file: /nonexistent/keel/token\n"),
        {"7:15: admin.token_file '/nonexistent/keel/token': cannot read it: No such file or directory"}}});
}

TEST(StateFileConfig, DirectoryMustExist) {
  const TemporaryDirectory directory;
  const std::string path = directory.path() + "/state.json";
  EXPECT_EQ(load_ok(kListener + kPool + "state_file: " + path + "\n").state_file, path);
  // The file itself need not exist yet; a relative name is in the working directory.
  EXPECT_EQ(load_ok(kListener + kPool + "state_file: keel-state.json\n").state_file, "keel-state.json");
  const std::string plain_file = directory.file("plain", "x");
  expect_errors({
      {kListener + kPool + "state_file: /nonexistent/keel/state.json\n",
       {"5:13: the directory of state_file '/nonexistent/keel/state.json' does not exist: "
        "/nonexistent/keel"}},
      {kListener + kPool + "state_file: " + plain_file + "/state.json\n",
       {"5:13: the directory of state_file '" + plain_file +
        "/state.json' is not a directory: " + plain_file}},
      {kListener + kPool + "state_file: " + directory.path() + "\n",
       {"5:13: state_file '" + directory.path() + "' must name a file, not a directory"}},
      {kListener + kPool + "state_file: " + directory.path() + "/new/\n",
       {"5:13: state_file '" + directory.path() + "/new/' must name a file, not a directory"}},
      {kListener + kPool + "state_file: \"\"\n", {"5:13: state_file must not be empty"}},
      {kListener + kPool + "state_file:\n", {"5:1: expected a string for state_file, got nothing"}},
      {kListener + kPool + "state_file: [a.json]\n", {"5:13: expected a string for state_file, got a list"}},
  });
}

}  // namespace
}  // namespace keel::config
