#include "aiproxy/observe/metrics_registry.hpp"

#include <gtest/gtest.h>

namespace aiproxy::observe {
namespace {

TEST(MetricsRegistryTest, CountersSumTheirSlotsAndRenderWithLabels) {
    MetricsRegistry registry{3};
    auto* ok = registry.counter("aiproxy_test_total", "Test.", {{"route", "r1"}, {"class", "2xx"}});
    ok->add(0, 2);
    ok->add(2, 5);
    std::string text = registry.render();
    EXPECT_NE(text.find("# HELP aiproxy_test_total Test.\n# TYPE aiproxy_test_total counter\n"),
              std::string::npos);
    EXPECT_NE(text.find("aiproxy_test_total{route=\"r1\",class=\"2xx\"} 7\n"), std::string::npos);
}

TEST(MetricsRegistryTest, SameNameAndLabelsGiveTheSameCell) {
    MetricsRegistry registry{1};
    auto* a = registry.counter("c_total", "C.", {{"x", "1"}});
    auto* b = registry.counter("c_total", "C.", {{"x", "1"}});
    auto* c = registry.counter("c_total", "C.", {{"x", "2"}});
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
}

TEST(MetricsRegistryTest, GaugesGoUpAndDownAcrossSlots) {
    MetricsRegistry registry{2};
    auto* gauge = registry.gauge("g", "G.");
    gauge->add(0, 3);
    gauge->add(1, -1);
    gauge->add(0, -1);
    EXPECT_EQ(gauge->total(), 1);
    EXPECT_NE(registry.render().find("\ng 1\n"), std::string::npos);
}

TEST(MetricsRegistryTest, HistogramBucketsAreCumulativeAndInfEqualsCount) {
    MetricsRegistry registry{2};
    auto* histogram = registry.histogram("h_seconds", "H.", {0.125, 1}, {{"route", "r"}});
    histogram->observe(0, 0.0625);
    histogram->observe(1, 0.5);
    histogram->observe(1, 0.125);  // on the bound: le="0.125"
    histogram->observe(0, 7);
    std::string text = registry.render();
    EXPECT_NE(text.find("h_seconds_bucket{route=\"r\",le=\"0.125\"} 2\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("h_seconds_bucket{route=\"r\",le=\"1\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("h_seconds_bucket{route=\"r\",le=\"+Inf\"} 4\n"), std::string::npos);
    EXPECT_NE(text.find("h_seconds_count{route=\"r\"} 4\n"), std::string::npos);
    EXPECT_NE(text.find("h_seconds_sum{route=\"r\"} 7.6875\n"), std::string::npos);
}

TEST(MetricsRegistryTest, LabelValuesAreEscaped) {
    EXPECT_EQ(escapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(MetricsRegistryTest, CollectorsAppendAfterFamilies) {
    MetricsRegistry registry{1};
    registry.addCollector([](std::string& out) { out += "# TYPE up gauge\nup 1\n"; });
    EXPECT_NE(registry.render().find("up 1\n"), std::string::npos);
}

}  // namespace
}  // namespace aiproxy::observe
