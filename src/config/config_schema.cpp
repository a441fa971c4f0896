// The top level of the file: which sections exist, and the checks that span sections (unique ids,
// references from routes to upstreams).

#include "schema.hpp"

#include <algorithm>
#include <cctype>
#include <limits>

namespace aiproxy::config::detail {

void readSeconds(const Value& value, Milliseconds& duration) {
    if (auto parsed = value.seconds()) duration = *parsed;
}

void readSize(const Value& value, std::size_t& size) {
    if (auto parsed = value.integer(1, std::numeric_limits<std::int64_t>::max())) {
        size = static_cast<std::size_t>(*parsed);
    }
}

void readInt(const Value& value, int min, int& out) {
    if (auto parsed = value.integer(min, std::numeric_limits<int>::max())) {
        out = static_cast<int>(*parsed);
    }
}

bool isAllDigits(std::string_view text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool hasSpace(std::string_view text) {
    return std::any_of(text.begin(), text.end(),
                       [](char c) { return static_cast<unsigned char>(c) <= ' '; });
}

void readLabels(const Value& value, std::vector<std::pair<std::string, std::string>>& labels) {
    // APISIX's labels: string keys to strings of 1 to 256 characters without whitespace. Anything
    // else (nested arrays, numbers) is refused: labels are stored and shown verbatim.
    constexpr std::size_t kMaxLabels = 64;
    constexpr std::size_t kMaxLabelLength = 256;
    if (value.json().is_object() && value.json().size() > kMaxLabels) {
        value.error("at most " + std::to_string(kMaxLabels) + " labels");
        return;
    }
    value.forEachMember([&](const std::string& name, const Value& label) {
        if (name.empty() || name.size() > kMaxLabelLength) {
            label.error("a label name must have 1 to 256 characters");
            return;
        }
        if (!label.json().is_string()) {
            label.error("must be a string");
            return;
        }
        const auto& text = label.json().get_ref<const std::string&>();
        if (text.empty() || text.size() > kMaxLabelLength || hasSpace(text)) {
            label.error("must be 1 to 256 characters without whitespace");
            return;
        }
        labels.emplace_back(name, text);
    });
}

bool isHeaderName(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
}

namespace {

// The ids the file declares in a section, read leniently, so references can be checked wherever
// they appear.
std::set<std::string> declaredIds(const Json& document, const char* section) {
    std::set<std::string> ids;
    auto list = document.find(section);
    if (list == document.end() || !list->is_array()) return ids;
    for (const Json& object : *list) {
        if (!object.is_object()) continue;
        auto id = object.find("id");
        if (id == object.end()) continue;
        if (id->is_string()) {
            ids.insert(id->get<std::string>());
        } else if (id->is_number_unsigned()) {
            ids.insert(std::to_string(id->get<std::uint64_t>()));
        } else if (id->is_number_integer()) {
            ids.insert(std::to_string(id->get<std::int64_t>()));
        }
    }
    return ids;
}

void checkUniqueId(const Value& element, const std::string& id, std::set<std::string>& seen) {
    if (id.empty()) return;  // missing or invalid: reported already
    if (!seen.insert(id).second) {
        element.sink().error(memberPath(element.path(), "id"), "duplicate id \"" + id + "\"");
    }
}

}  // namespace

std::optional<Config> readConfig(const Json& document, DiagnosticSink& sink) {
    Config config;
    if (document.is_null()) {
        sink.warning("", "the file is empty; every setting has its default");
    } else if (!document.is_object()) {
        sink.error("",
                   "the top level must be an object with server, status, log, admin, storage, "
                   "pricing, upstreams and routes");
    } else {
        std::set<std::string> upstream_ids = declaredIds(document, "upstreams");
        std::set<std::string> group_ids = declaredIds(document, "consumer_groups");
        std::set<std::string> seen_upstreams;
        std::set<std::string> seen_groups;
        std::set<std::string> seen_routes;
        std::set<std::string> seen_consumers;
        ObjectReader{}
            .on("server", [&](const Value& v) { readServer(v, config.server); })
            .on("status", [&](const Value& v) { readStatus(v, config.status); })
            .on("log", [&](const Value& v) { readLog(v, config.log); })
            .on("admin", [&](const Value& v) { readAdmin(v, config.admin); })
            .on("storage", [&](const Value& v) { readStorage(v, config.storage); })
            .on("tracing", [&](const Value& v) { readTracing(v, config.tracing); })
            .on("pricing", [&](const Value& v) { readPricing(v, config.pricing); })
            .on("pricing_file",
                [&](const Value& v) {
                    auto path = v.string();
                    if (path && path->empty())
                        v.error("must be a file path");
                    else if (path)
                        config.pricing_file = *path;
                })
            .on("consumer_groups",
                [&](const Value& v) {
                    v.forEachElement([&](const Value& element) {
                        ConsumerGroupConfig group;
                        readConsumerGroup(element, group);
                        checkUniqueId(element, group.id, seen_groups);
                        config.consumer_groups.push_back(std::move(group));
                    });
                })
            .on("consumers",
                [&](const Value& v) {
                    v.forEachElement([&](const Value& element) {
                        ConsumerConfig consumer;
                        readConsumer(element, group_ids, consumer);
                        if (!consumer.id.empty() && !seen_consumers.insert(consumer.id).second) {
                            element.sink().error(memberPath(element.path(), "username"),
                                                 "duplicate username \"" + consumer.id + "\"");
                        }
                        config.consumers.push_back(std::move(consumer));
                    });
                })
            .on("upstreams",
                [&](const Value& v) {
                    v.forEachElement([&](const Value& element) {
                        UpstreamConfig upstream;
                        readUpstream(element, upstream);
                        checkUniqueId(element, upstream.id, seen_upstreams);
                        config.upstreams.push_back(std::move(upstream));
                    });
                })
            .on("routes",
                [&](const Value& v) {
                    v.forEachElement([&](const Value& element) {
                        RouteConfig route;
                        readRoute(element, upstream_ids, route);
                        checkUniqueId(element, route.id, seen_routes);
                        config.routes.push_back(std::move(route));
                    });
                })
            .read(Value{document, "", sink});
    }
    if (!sink.errors.empty()) return std::nullopt;
    return config;
}

}  // namespace aiproxy::config::detail
