// The messages a newcomer meets: a close valid key for an unknown one, a unit
// for a bare number, host:port for a URL, and the `log` section.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/config/config.hpp"
#include "proxy/config/suggest.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace keel::config {
namespace {

using Names = std::vector<std::string_view>;

TEST(EditDistance, CountsASwapOfNeighboursAsOne) {
  EXPECT_EQ(edit_distance("weight", "weight"), 0u);
  EXPECT_EQ(edit_distance("weigth", "weight"), 1u);
  EXPECT_EQ(edit_distance("conect", "connect"), 1u);
  EXPECT_EQ(edit_distance("wrokers", "workers"), 1u);
  EXPECT_EQ(edit_distance("pool", "path"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("ca", "abc"), 3u);  // optimal string alignment, not full Damerau (2)
}

TEST(ClosestNames, Table) {
  const std::initializer_list<std::string_view> route = {"host", "path_prefix", "pool"};
  const std::initializer_list<std::string_view> timeouts = {"connect", "client_header", "upstream_header",
                                                            "idle", "shutdown", "drain"};
  const std::initializer_list<std::string_view> listener = {"address", "tls", "reuse_port"};
  const std::initializer_list<std::string_view> check = {"path", "interval", "timeout", "healthy_threshold",
                                                         "unhealthy_threshold", "expect_status"};
  EXPECT_EQ(closest_names("path", route), Names{"path_prefix"});  // its leading word
  EXPECT_EQ(closest_names("prefix", route), Names{"path_prefix"});  // another proxy's name
  EXPECT_EQ(closest_names("Path-Prefix", route), Names{"path_prefix"});  // case and dash
  EXPECT_EQ(closest_names("pol", route), Names{"pool"});
  EXPECT_EQ(closest_names("method", route), Names{});
  EXPECT_EQ(closest_names("conect", timeouts), Names{"connect"});
  EXPECT_EQ(closest_names("header", timeouts), Names{});  // not a leading word of either
  EXPECT_EQ(closest_names("client", timeouts), Names{"client_header"});
  EXPECT_EQ(closest_names("keepalive_timeout", timeouts), Names{"idle"});
  EXPECT_EQ(closest_names("port", listener), Names{"address"});  // not 'reuse_port'
  EXPECT_EQ(closest_names("listen", listener), Names{"address"});
  EXPECT_EQ(closest_names("ssl", listener), Names{"tls"});
  EXPECT_EQ(closest_names("xyz", listener), Names{});
  EXPECT_EQ(closest_names("healthy_treshold", check), Names{"healthy_threshold"});
  EXPECT_EQ(closest_names("threshold", check), Names{});
  // An alias counts only where its target is valid.
  EXPECT_EQ(closest_names("port", route), Names{});  // "address" is not a route key
  // Ties are all named, best first, at most three.
  EXPECT_EQ(closest_names("ab", {"aa", "bb", "ac", "cb", "xy"}), (Names{"aa", "bb", "ac"}));
  EXPECT_EQ(did_you_mean("ab", {"aa", "bb"}), "; did you mean 'aa' or 'bb'?");
  EXPECT_EQ(did_you_mean("ab", {"aa", "bb", "ac"}), "; did you mean 'aa', 'bb' or 'ac'?");
  EXPECT_EQ(did_you_mean("zzz", {"aa"}), "");
}

TEST(ConfigMessages, UnknownKeySuggestsTheClosestValidOne) {
  expect_errors({
      {kListener + kPool + "routes:\n  - path: /api\n    pool: web\n",
       {"6:5: unknown key 'path' in routes[0]; did you mean 'path_prefix'?",
        "6:5: routes[0] needs a 'host' or a 'path_prefix'"}},
      {kListener + kPool + "routes:\n  - prefix: /api\n    pool: web\n",
       {"6:5: unknown key 'prefix' in routes[0]; did you mean 'path_prefix'?",
        "6:5: routes[0] needs a 'host' or a 'path_prefix'"}},
      {kListener + kPool + "health_chek: {}\n",
       {"5:1: unknown key 'health_chek' at the top level; valid keys: workers, listeners, admin, state_file, "
        "timeouts, limits, forwarded, pools, routes, access_log, log, cluster"}},
      {kListener + "pools:\n  - name: web\n    health_chek: {}\n",
       {"5:5: unknown key 'health_chek' in pools[0]; did you mean 'health_check'?"}},
      {kListener + "pools:\n  - name: web\n    upstreams: []\n",
       {"5:5: unknown key 'upstreams' in pools[0]; did you mean 'backends'?"}},
      {kListener + kPool + "log: { levl: debug }\n",
       {"5:8: unknown key 'levl' in log; did you mean 'level'?"}},
  });
}

TEST(ConfigMessages, UnknownValueSuggestsTheClosestChoice) {
  expect_errors({
      {kListener + "pools:\n  - name: web\n    balance: leastconn\n",
       {"5:14: unknown value 'leastconn' for pools[0].balance: expected round_robin or least_conn; did you "
        "mean 'least_conn'?"}},
      {kListener + "pools:\n  - name: web\n    balance: roundrobin\n",
       {"5:14: unknown value 'roundrobin' for pools[0].balance: expected round_robin or least_conn; did you "
        "mean 'round_robin'?"}},
      {kListener + kPool + "log: { level: warning }\n",
       {"5:15: unknown value 'warning' for log.level: expected debug, info, warn or error; did you mean "
        "'warn'?"}},
      {kListener + kPool + "log: { level: verbose }\n",
       {"5:15: unknown value 'verbose' for log.level: expected debug, info, warn or error"}},
  });
}

std::string check_timeout(const std::string& value) {
  return kListener + "pools:\n  - name: web\n    health_check:\n      timeout: " + value + "\n";
}

TEST(ConfigMessages, BareNumberDurationSuggestsAUnitOfTheIntendedSize) {
  const std::string place = "6:16: duration ";
  const std::string what = " for pools[0].health_check.timeout needs a unit (ms, s, m or h); did you mean ";
  expect_errors({
      {check_timeout("2"), {place + "2" + what + "'2s'?"}},
      {check_timeout("0"), {place + "0" + what + "'0s'?"}},
      {check_timeout("1.5"), {place + "1.5" + what + "'1.5s'?"}},
      {check_timeout("99"), {place + "99" + what + "'99s'?"}},
      {check_timeout("300"), {place + "300" + what + "'300ms' or '300s'?"}},  // either is plausible
      {check_timeout("2000"), {place + "2000" + what + "'2000ms', that is '2s'?"}},
      {check_timeout("1500"), {place + "1500" + what + "'1500ms'?"}},
      {check_timeout("120000"), {place + "120000" + what + "'120000ms', that is '2m'?"}},
      {check_timeout("3600000"), {place + "3600000" + what + "'3600000ms', that is '1h'?"}},
  });
}

TEST(ConfigMessages, UnitSpellingsFromOtherToolsSuggestKeelsUnit) {
  const std::string place = "6:16: invalid duration '";
  const std::string what = "' for pools[0].health_check.timeout; did you mean ";
  expect_errors({
      {check_timeout("2sec"), {place + "2sec" + what + "'2s'?"}},
      {check_timeout("\"2 s\""), {place + "2 s" + what + "'2s'?"}},
      {check_timeout("2S"), {place + "2S" + what + "'2s'?"}},
      {check_timeout("500 millis"), {place + "500 millis" + what + "'500ms'?"}},
      {check_timeout("1.5 seconds"), {place + "1.5 seconds" + what + "'1.5s'?"}},
      {check_timeout("1min"), {place + "1min" + what + "'1m'?"}},
      {check_timeout("1 hour"), {place + "1 hour" + what + "'1h'?"}},
  });
  // No good guess: the general help.
  EXPECT_EQ(errors_of(check_timeout("2 fortnights")),
            std::vector<std::string>{"6:16: invalid duration '2 fortnights' for pools[0].health_check.timeout: "
                                     "expected a number and a unit ms, s, m or h, in whole milliseconds, e.g. "
                                     "'250ms' or '1.5s'"});
}

TEST(ConfigMessages, DurationSuggestionsAreValidDurations) {
  for (const std::string text : {"2", "0", "1.5", "300", "2000", "1500", "86400000", "2sec", "1 hour", "0.25"}) {
    const std::string guess = duration_suggestion(text);
    ASSERT_GE(guess.size(), 3u) << text;
    const std::string first = guess.substr(1, guess.find('\'', 1) - 1);
    EXPECT_TRUE(parse_duration(first)) << text << " -> " << guess;
  }
  for (const std::string text : {"", "s", "abc", "1.2.3", ".5", "5.", "2 fortnights", "0.0001",
                                 "99999999999999999999"})
    EXPECT_EQ(duration_suggestion(text), "") << text;
}

TEST(ConfigMessages, AUrlAsAnAddressSaysWhatToWrite) {
  const std::string backend = kListener + "pools:\n  - name: web\n    backends:\n      - address: ";
  const std::string place = "6:18: invalid address '";
  const std::string what = "' for pools[0].backends[0].address: a scheme (";
  expect_errors({
      {backend + "http://127.0.0.1:5002\n",
       {place + "http://127.0.0.1:5002" + what + "http://) is not allowed here; write 127.0.0.1:5002"}},
      {backend + "http://127.0.0.1:5002/\n",
       {place + "http://127.0.0.1:5002/" + what + "http://) is not allowed here; write 127.0.0.1:5002"}},
      {backend + "http://app.internal\n",
       {place + "http://app.internal" + what + "http://) is not allowed here; write app.internal:80"}},
      {backend + "https://[::1]\n",
       {place + "https://[::1]" + what +
        "https://) is not allowed here; write [::1]:443 (HTTPS is set with 'tls', not in the address)"}},
      {backend + "http://\n", {place + "http://" + what + "http://) is not allowed here; write host:port"}},
      {"listeners:\n  - address: http://0.0.0.0:8080\n" + kPool,
       {"2:14: invalid address 'http://0.0.0.0:8080' for listeners[0].address: a scheme (http://) is not "
        "allowed here; write 0.0.0.0:8080"}},
      {kListener + kPool + "admin:\n  address: http://127.0.0.1:9901\n",
       {"6:12: invalid address 'http://127.0.0.1:9901' for admin.address: a scheme (http://) is not allowed "
        "here; write 127.0.0.1:9901"}},
  });
}

TEST(ConfigLog, DefaultsToInfoText) {
  const Config config = load_ok(kListener + kPool);
  EXPECT_EQ(config.log.level, log::Level::info);
  EXPECT_EQ(config.log.format, log::Format::text);
}

TEST(ConfigLog, ReadsLevelAndFormat) {
  const Config config = load_ok(kListener + kPool + "log:\n  level: debug\n  format: json\n");
  EXPECT_EQ(config.log.level, log::Level::debug);
  EXPECT_EQ(config.log.format, log::Format::json);
  EXPECT_EQ(load_ok(kListener + kPool + "log: { level: error }\n").log.level, log::Level::error);
  EXPECT_EQ(load_ok(kListener + kPool + "log: { level: warn }\n").log.level, log::Level::warn);
  EXPECT_EQ(load_ok(kListener + kPool + "log: {}\n").log.format, log::Format::text);
}

TEST(ConfigLog, RejectsWhatIsNotALogSection) {
  expect_errors({
      {kListener + kPool + "log: debug\n", {"5:6: expected a mapping for log, got 'debug'"}},
      {kListener + kPool + "log: { format: logfmt }\n",
       {"5:16: unknown value 'logfmt' for log.format: expected text or json"}},
      {kListener + kPool + "log: { path: /var/log/keel.log }\n",
       {"5:8: unknown key 'path' in log; valid keys: level, format"}},
  });
}

TEST(ConfigResolve, IsOffByDefaultAndTakesAnInterval) {
  EXPECT_FALSE(load_ok(kListener + kPool).pools[0].resolve);
  const Config config = load_ok(kListener + "pools:\n  - name: web\n    resolve: 30s\n");
  EXPECT_EQ(config.pools[0].resolve, Milliseconds(30'000));
  EXPECT_EQ(load_ok(kListener + "pools:\n  - name: web\n    resolve: 100ms\n").pools[0].resolve, Milliseconds(100));
  expect_errors({
      {kListener + "pools:\n  - name: web\n    resolve: 50ms\n",
       {"5:14: pools[0].resolve must be at least 100ms, got 50ms"}},
      {kListener + "pools:\n  - name: web\n    resolve: true\n",
       {"5:14: invalid duration 'true' for pools[0].resolve: expected a number and a unit ms, s, m or h, in whole "
        "milliseconds, e.g. '250ms' or '1.5s'"}},
      {kListener + "pools:\n  - name: web\n    resolve: 30\n",
       {"5:14: duration 30 for pools[0].resolve needs a unit (ms, s, m or h); did you mean '30s'?"}},
  });
}

}  // namespace
}  // namespace keel::config
