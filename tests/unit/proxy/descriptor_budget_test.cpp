#include "proxy/descriptor_budget.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace keel {
namespace {

config::Config config_with(unsigned workers, std::size_t listeners, bool admin) {
  config::Config config;
  config.workers = workers;
  config.listeners.resize(listeners);
  if (admin) config.admin.emplace();
  return config;
}

TEST(DescriptorBudget, ReservesLoopsListenersAdminAndAMargin) {
  // 3 standard streams, 3 per event loop (2 workers + control), 2 workers x 2
  // listeners, the margin; the admin listener and its 16 reserved connections.
  const auto plain = descriptor_budget(1024, config_with(2, 2, false));
  EXPECT_EQ(plain.reserved, 3u + 9u + 4u + kDescriptorMargin);
  const auto with_admin = descriptor_budget(1024, config_with(2, 2, true));
  EXPECT_EQ(with_admin.reserved, plain.reserved + 17u);
}

TEST(DescriptorBudget, TwoDescriptorsPerClientFromWhatIsLeft) {
  const auto budget = descriptor_budget(1024, config_with(1, 1, true));
  EXPECT_EQ(budget.max_clients, (1024 - budget.reserved) / 2);
  EXPECT_EQ(budget.needed_for(budget.max_clients), budget.reserved + 2 * budget.max_clients);
  EXPECT_LE(budget.needed_for(budget.max_clients), 1024u);
  EXPECT_GT(budget.needed_for(budget.max_clients + 1), 1024u);
}

TEST(DescriptorBudget, NothingLeftMeansNoClients) {
  const auto budget = descriptor_budget(40, config_with(4, 3, true));
  EXPECT_EQ(budget.max_clients, 0u);
  EXPECT_TRUE(descriptor_warning(budget, 1).has_value());
}

TEST(DescriptorBudget, UnlimitedDescriptorsNeverLowerTheLimit) {
  const auto budget = descriptor_budget(std::numeric_limits<std::uint64_t>::max(), config_with(2, 1, true));
  EXPECT_GE(budget.max_clients, std::size_t{1} << 40);
  EXPECT_FALSE(descriptor_warning(budget, 10'000).has_value());
}

TEST(DescriptorBudget, WarnsOnlyWhenMaxConnectionsDoesNotFit) {
  const auto budget = descriptor_budget(2048, config_with(2, 1, true));
  EXPECT_FALSE(descriptor_warning(budget, budget.max_clients).has_value());
  const auto warning = descriptor_warning(budget, 10'000);
  ASSERT_TRUE(warning.has_value());
  EXPECT_NE(warning->find("limits.max_connections 10000 does not fit the file descriptor limit 2048"),
            std::string::npos)
      << *warning;
  EXPECT_NE(warning->find("accepting at most " + std::to_string(budget.max_clients) + " client connections"),
            std::string::npos)
      << *warning;
  EXPECT_NE(warning->find("a limit of " + std::to_string(budget.needed_for(10'000)) + " fits"), std::string::npos)
      << *warning;
}

}  // namespace
}  // namespace keel
