// The admin API's JSON text: Boost.JSON's, except that numbers with a fraction
// are plain decimals.
#include "proxy/admin/json_codec.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace keel::admin {
namespace {

namespace json = boost::json;

TEST(JsonText, DoublesArePlainDecimals) {
  const struct {
    double number;
    std::string text;
  } cases[] = {
      {32.0, "32.0"},
      {0.0, "0.0"},
      {-0.0, "-0.0"},
      {0.25, "0.25"},
      {1.5, "1.5"},
      {1500.0, "1500.0"},
      {0.1, "0.1"},  // shortest text that reads back the same, not 0.1000000000000000055...
      {123456789.125, "123456789.125"},
      {1e-7, "0.0000001"},
      {1e21, "1000000000000000000000.0"},
      {-2.75, "-2.75"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(json_text(json::value(c.number)), c.text) << c.number;
    EXPECT_EQ(json::parse(c.text).to_number<double>(), c.number) << c.text;  // round-trips exactly
  }
}

TEST(JsonText, NonFiniteNumbersAreNull) {
  EXPECT_EQ(json_text(json::value(std::numeric_limits<double>::infinity())), "null");
  EXPECT_EQ(json_text(json::value(-std::numeric_limits<double>::infinity())), "null");
  EXPECT_EQ(json_text(json::value(std::numeric_limits<double>::quiet_NaN())), "null");
}

TEST(JsonText, EverythingElseIsBoostsText) {
  const json::value document = {
      {"int", 0},
      {"negative", -3},
      {"big", std::numeric_limits<std::uint64_t>::max()},
      {"text", "quote \" backslash \\ newline \n control \x01 é"},
      {"key \"quoted\"", true},
      {"nothing", nullptr},
      {"list", json::array{1, 2.5, "x", json::array{}, json::object{}}},
      {"nested", json::object{{"a", json::object{{"b", 4.0}}}}},
  };
  EXPECT_EQ(json_text(document),
            R"({"int":0,"negative":-3,"big":18446744073709551615,)"
            R"("text":"quote \" backslash \\ newline \n control \u0001 é",)"
            R"("key \"quoted\"":true,"nothing":null,"list":[1,2.5,"x",[],{}],"nested":{"a":{"b":4.0}}})");
  EXPECT_EQ(json::parse(json_text(document)), document);
}

TEST(JsonText, IntegersStayIntegers) {
  EXPECT_EQ(json_text(json::value(0)), "0");
  EXPECT_EQ(json_text(json::value(32)), "32");
  EXPECT_EQ(json_text(json::value(std::uint64_t{7})), "7");
}

}  // namespace
}  // namespace keel::admin
