// admin_body_fuzzer: the Admin API's request path (target and query parsing, key check, JSON body
// parse, validation, merge patch, references, store writes) on up to four requests per input,
// against one MemoryStore, so PATCH and DELETE meet objects that earlier requests made.
//
// Input: up to kMaxRequests records separated by "\n@@\n"; each record is
//   byte 0  bits 0-2 method (kMethods), bits 3-5 key (0-4 admin, 5 viewer, 6 wrong, 7 admin key in
//           the cookie only), bit 6 the store fails this request's write, bit 7 prepare() fails
//   byte 1  resource: & 3 = 0 routes, 1 upstreams, 2 routes, 3 none (the line is the whole path)
//   then    the rest of the path up to '\n': id, sub-path, query ("r1/plugins?force=true")
//   then    the body, to the end of the record.
// Broken invariants abort(): an exception out of handle() (AdminServer would drop the connection
// unanswered), status outside the Admin API's set, a body that is not JSON, a store changed by a
// refused request, a write answered 2xx that is not in the store, a stored object that is not
// valid UTF-8 (the file store cannot write it), a stored route that names a missing upstream
// (except those a forced delete left behind), an effective config given to prepare() whose
// routes name missing upstreams.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "aiproxy/admin/admin_api.hpp"
#include "aiproxy/config/config_loader.hpp"
#include "aiproxy/config/objects.hpp"
#include "aiproxy/config/store.hpp"
#include "memory_store.hpp"

namespace aiproxy::fuzz {
namespace {

using config::Document;

constexpr std::size_t kMaxRequests = 4;
constexpr std::string_view kSeparator = "\n@@\n";
constexpr const char* kAdminKey = "edd1c9f034335f136f87ad84b625c8f1";
constexpr const char* kViewerKey = "4054f7cf07e344346cd3f287985e76a2";
constexpr const char* kMethods[] = {"GET", "PUT", "POST", "PATCH", "DELETE", "PUT", "PATCH", "GET"};
constexpr std::int64_t kStartTime = 1700000000;

[[noreturn]] void fail(const char* what, const std::string& detail) {
    std::fprintf(stderr, "admin_body_fuzzer: %s: %s\n", what, detail.c_str());
    std::abort();
}

const config::LoadResult& fileLoad() {
    static const config::LoadResult kLoaded = config::parseConfig(
        R"({"upstreams":[{"id":"file_upstream","nodes":{"127.0.0.1:8000":1}}],
            "routes":[{"id":"file_route","uri":"/file/*",
                       "plugins":{"ai-proxy":{"upstream_id":"file_upstream"}}}]})",
        config::Format::Json, [](const std::string&) { return std::optional<std::string>{}; });
    if (!kLoaded.config) fail("the harness's file config does not load", "");
    return kLoaded;
}

std::set<std::string> idsOf(const auto& objects) {
    std::set<std::string> ids;
    for (const auto& object : objects)
        ids.insert(object.id);
    return ids;
}

// Every route the data plane would get names upstreams it also gets.
void checkEffective(const config::Config& effective) {
    std::set<std::string> upstreams = idsOf(effective.upstreams);
    if (upstreams.size() != effective.upstreams.size()) fail("duplicate upstream ids", "");
    if (idsOf(effective.routes).size() != effective.routes.size()) fail("duplicate route ids", "");
    for (const auto& route : effective.routes) {
        if (!route.ai_proxy) continue;
        for (const std::string& id :
             {route.ai_proxy->upstream_id, route.ai_proxy->upstream_fallback_id}) {
            if (!id.empty() && upstreams.count(id) == 0) {
                fail("effective route names a missing upstream", route.id + " -> " + id);
            }
        }
    }
}

class FakeHost final : public admin::AdminHost {
public:
    bool fail_prepare = false;
    std::int64_t clock = kStartTime;

    const config::Config& fileConfig() const override { return *fileLoad().config; }
    const config::Document* fileDocument() const override { return fileLoad().document.get(); }
    std::optional<std::string> prepare(const config::Config& effective) override {
        checkEffective(effective);
        if (fail_prepare) return std::string{"injected prepare failure"};
        return std::nullopt;
    }
    void publish() override {}
    std::int64_t now() const override { return clock; }
};

// What the store holds, comparable: (resource, id) -> (value, created, modified).
using StoreState = std::map<std::pair<std::string, std::string>,
                            std::tuple<std::string, std::uint64_t, std::uint64_t>>;

StoreState stateOf(const config::Store& store) {
    StoreState state;
    for (const config::Resource& resource : config::resources()) {
        for (const config::StoredObject* object : store.list(resource.name)) {
            std::string value;
            try {
                value = object->value.dump();
            } catch (const nlohmann::json::type_error&) {
                // The file store could not write it, nor GET show it.
                fail("a stored object is not valid UTF-8", resource.name + "/" + object->id);
            }
            state[{resource.name, object->id}] = {std::move(value), object->created_index,
                                                  object->modified_index};
        }
    }
    return state;
}

// Stored objects with a reference to an object that exists neither in the file nor the store.
std::set<std::pair<std::string, std::string>> dangling(const config::Store& store) {
    std::set<std::pair<std::string, std::string>> broken;
    config::ObjectIds existing = config::existingIds(*fileLoad().config, store);
    for (const config::Resource& resource : config::resources()) {
        for (const config::StoredObject* object : store.list(resource.name)) {
            for (const config::Reference& ref : resource.references(object->value)) {
                auto ids = existing.find(ref.resource);
                if (ids == existing.end() || ids->second.count(ref.id) == 0) {
                    broken.insert({resource.name, object->id});
                }
            }
        }
    }
    return broken;
}

struct SeedObject {
    const char* resource;
    const char* id;
    Document value;
};

// Built and checked once; every input starts from a store holding these.
const std::vector<SeedObject>& seedObjects() {
    static const std::vector<SeedObject> kObjects = [] {
        std::vector<SeedObject> objects{
            {"upstreams", "u1",
             Document{{"id", "u1"}, {"nodes", {{"127.0.0.1:8001", 4}, {"127.0.0.1:8002", 1}}}}},
            {"routes", "r1",
             Document{{"id", "r1"},
                      {"uri", "/llm/*"},
                      {"plugins",
                       {{"ai-proxy",
                         {{"upstream_id", "u1"}, {"upstream_fallback_id", "file_upstream"}}}}}}},
        };
        MemoryStore scratch;
        for (SeedObject& object : objects) {
            object.value["create_time"] = kStartTime;
            object.value["update_time"] = kStartTime;
            const config::Resource* kind = config::findResource(object.resource);
            auto existing = config::existingIds(*fileLoad().config, scratch);
            if (!kind->check(object.value, existing).empty()) {
                fail("a seeded object does not check", object.value.dump());
            }
            scratch.put(object.resource, object.id, object.value);
        }
        return objects;
    }();
    return kObjects;
}

struct ParsedRecord {
    admin::AdminRequest request;
    bool fail_store = false;
    bool fail_prepare = false;
};

std::optional<ParsedRecord> parseRecord(std::string_view record) {
    if (record.size() < 2) return std::nullopt;
    auto control = static_cast<std::uint8_t>(record[0]);
    auto resource = static_cast<std::uint8_t>(record[1]) & 3;
    record.remove_prefix(2);
    auto newline = record.find('\n');
    std::string_view line = record.substr(0, newline);
    std::string_view body = newline == std::string_view::npos ? "" : record.substr(newline + 1);

    ParsedRecord parsed;
    admin::AdminRequest& request = parsed.request;
    request.method = kMethods[control & 7];
    unsigned key = (control >> 3) & 7;
    if (key <= 4) {
        request.x_api_key = kAdminKey;
    } else if (key == 5) {
        request.x_api_key = kViewerKey;
    } else if (key == 6) {
        request.x_api_key = "not-a-key";
    } else {
        request.cookie = std::string{"theme=dark; x_api_key="} + kAdminKey;
    }
    parsed.fail_store = (control & 0x40) != 0;
    parsed.fail_prepare = (control & 0x80) != 0;

    request.target = "/apisix/admin/";
    if (resource != 3) {
        request.target += resource == 1 ? "upstreams" : "routes";
        if (!line.empty() && line.front() != '?') request.target += '/';
    }
    request.target += line;
    request.body = std::string{body};
    return parsed;
}

int hexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string decode(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() && hexDigit(text[i + 1]) >= 0 &&
            hexDigit(text[i + 2]) >= 0) {
            out += static_cast<char>(hexDigit(text[i + 1]) * 16 + hexDigit(text[i + 2]));
            i += 2;
        } else {
            out += text[i] == '+' ? ' ' : text[i];
        }
    }
    return out;
}

// The first value of a query parameter, as the API reads it (an own reading, to cross-check).
std::optional<std::string> queryValue(std::string_view target, std::string_view name) {
    auto question = target.find('?');
    if (question == std::string_view::npos) return std::nullopt;
    std::string_view query = target.substr(question + 1);
    while (true) {
        auto amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        auto eq = pair.find('=');
        if (decode(pair.substr(0, eq)) == name) {
            return eq == std::string_view::npos ? "" : decode(pair.substr(eq + 1));
        }
        if (amp == std::string_view::npos) return std::nullopt;
        query.remove_prefix(amp + 1);
    }
}

bool isWrite(const std::string& method) {
    return method == "PUT" || method == "POST" || method == "PATCH";
}

// "/apisix/routes/r1" -> ("routes", "r1").
std::pair<std::string, std::string> splitKey(const std::string& key) {
    constexpr std::string_view kPrefix = "/apisix/";
    if (key.rfind(kPrefix, 0) != 0) fail("a 2xx write answered without a key", key);
    std::string rest = key.substr(kPrefix.size());
    auto slash = rest.find('/');
    if (slash == std::string::npos) fail("a malformed key", key);
    return {rest.substr(0, slash), rest.substr(slash + 1)};
}

void checkResponse(const ParsedRecord& record, const admin::AdminResponse& response,
                   const StoreState& before, const StoreState& after) {
    static const std::set<unsigned> kStatuses{200, 201, 400, 401, 403, 404, 405, 500};
    const admin::AdminRequest& request = record.request;
    if (kStatuses.count(response.status) == 0) {
        fail("unexpected status",
             std::to_string(response.status) + " for " + request.method + " " + request.target);
    }
    if (!Document::accept(response.body)) fail("the response body is not JSON", response.body);
    if (response.status >= 400 || request.method == "GET") {
        if (before != after) {
            fail("the store changed",
                 std::to_string(response.status) + " for " + request.method + " " + request.target);
        }
        return;
    }
    Document body = Document::parse(response.body);
    if (isWrite(request.method)) {
        auto [resource, id] = splitKey(body.value("key", std::string{}));
        auto object = after.find({resource, id});
        if (object == after.end()) fail("a 2xx write is not in the store", response.body);
        bool existed = before.count({resource, id}) != 0;
        if (existed != (response.status == 200)) {
            fail("200 is for a replace and 201 for a create", response.body);
        }
    } else if (request.method == "DELETE") {
        auto [resource, id] = splitKey(body.value("key", std::string{}));
        if (after.count({resource, id}) != 0) fail("a deleted object is still stored", id);
        if (before.count({resource, id}) == 0) fail("a delete of nothing answered 200", id);
    }
}

}  // namespace
}  // namespace aiproxy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace aiproxy::fuzz;
    // ADMIN_FUZZ_TRACE=1 prints every request and answer: for writing seeds and reading crashes.
    static const bool kTrace = std::getenv("ADMIN_FUZZ_TRACE") != nullptr;
    std::string_view input{reinterpret_cast<const char*>(data), size};

    MemoryStore store;
    for (const SeedObject& object : seedObjects())
        store.put(object.resource, object.id, object.value);
    FakeHost host;
    aiproxy::admin::AdminApi api{store, host, {{kAdminKey, "admin"}, {kViewerKey, "viewer"}}};
    // Objects a forced delete left pointing at nothing; rewriting one must repair it.
    std::set<std::pair<std::string, std::string>> allowed_dangling;

    for (std::size_t i = 0; i < kMaxRequests && !input.empty(); ++i) {
        auto end = input.find(kSeparator);
        std::string_view text = input.substr(0, end);
        input = end == std::string_view::npos ? "" : input.substr(end + kSeparator.size());
        auto record = parseRecord(text);
        if (!record) continue;

        StoreState before = stateOf(store);
        store.fail_next_write = record->fail_store;
        host.fail_prepare = record->fail_prepare;
        aiproxy::admin::AdminResponse response = api.handle(record->request);
        store.fail_next_write = false;
        host.fail_prepare = false;
        ++host.clock;
        StoreState after = stateOf(store);
        if (kTrace) {
            std::fprintf(stderr, "%s %s -> %u %s\n", record->request.method.c_str(),
                         record->request.target.c_str(), response.status, response.body.c_str());
        }
        checkResponse(*record, response, before, after);

        const std::string& method = record->request.method;
        bool forced = method == "DELETE" && response.status == 200 &&
                      queryValue(record->request.target, "force") == "true";
        if (isWrite(method) && response.status < 300) {
            auto body = aiproxy::config::Document::parse(response.body);
            allowed_dangling.erase(splitKey(body.value("key", std::string{})));
        }
        for (const auto& object : dangling(store)) {
            if (forced) {
                allowed_dangling.insert(object);
            } else if (allowed_dangling.count(object) == 0) {
                fail("a stored object names a missing one", object.first + "/" + object.second +
                                                                " after " + method + " " +
                                                                record->request.target);
            }
        }
    }
    return 0;
}
