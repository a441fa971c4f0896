// AdminApi: APISIX v3 shapes, status codes and messages, PATCH semantics, id rules, references
// and roles, against a real FileStore in a temp directory.

#include "aiproxy/admin/admin_api.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "aiproxy/config/config_loader.hpp"
#include "aiproxy/config/store.hpp"

namespace aiproxy::admin {
namespace {

using config::Document;

constexpr const char* kAdminKey = "edd1c9f034335f136f87ad84b625c8f1";
constexpr const char* kViewerKey = "4054f7cf07e344346cd3f287985e76a2";

class FakeHost : public AdminHost {
public:
    config::Config file;
    std::optional<std::string> fail_prepare;
    int prepared = 0;
    int published = 0;
    config::Config last_effective;
    std::int64_t clock = 1700000000;

    const config::Config& fileConfig() const override { return file; }
    const config::Document* fileDocument() const override { return nullptr; }
    std::optional<std::string> prepare(const config::Config& effective) override {
        ++prepared;
        if (fail_prepare) return fail_prepare;
        last_effective = effective;
        return std::nullopt;
    }
    void publish() override { ++published; }
    std::int64_t now() const override { return clock; }
};

class AdminApiTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::random_device random;
        dir_ = std::filesystem::temp_directory_path() /
               ("aiproxy-admin-test-" + std::to_string(random()));
        store_ = config::makeFileStore(dir_.string());
        store_->load();
        auto loaded = config::parseConfig(
            R"(
upstreams:
  - id: file_upstream
    nodes: {"127.0.0.1:8000": 1}
routes:
  - id: file_route
    uri: /file/*
    plugins: {ai-proxy: {upstream_id: file_upstream}}
)",
            config::Format::Yaml, [](const std::string&) { return std::optional<std::string>{}; });
        ASSERT_TRUE(loaded.config) << loaded.errors.at(0).toString();
        host_.file = *loaded.config;
        api_ = std::make_unique<AdminApi>(
            *store_, host_,
            std::vector<config::AdminKey>{{kAdminKey, "admin"}, {kViewerKey, "viewer"}});
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    AdminResponse call(const std::string& method, const std::string& path,
                       const std::string& body = "", const std::string& key = kAdminKey) {
        return api_->handle({.method = method,
                             .target = "/apisix/admin/" + path,
                             .x_api_key = key,
                             .cookie = "",
                             .body = body});
    }
    static Document json(const AdminResponse& response) { return Document::parse(response.body); }

    void putUpstream(const std::string& id) {
        auto response = call("PUT", "upstreams/" + id, R"({"nodes":{"127.0.0.1:8001":1}})");
        ASSERT_EQ(response.status, 201u) << response.body;
    }

    std::filesystem::path dir_;
    std::unique_ptr<config::Store> store_;
    FakeHost host_;
    std::unique_ptr<AdminApi> api_;
};

TEST_F(AdminApiTest, MissingAndWrongKeys) {
    auto missing = call("GET", "routes", "", "");
    EXPECT_EQ(missing.status, 401u);
    EXPECT_EQ(json(missing), (Document{{"error_msg", "failed to check token"},
                                       {"description", "missing apikey"}}));
    auto wrong = call("GET", "routes", "", "not-the-key");
    EXPECT_EQ(wrong.status, 401u);
    EXPECT_EQ(json(wrong)["description"], "wrong apikey");
}

TEST_F(AdminApiTest, KeyFromQueryOrCookie) {
    AdminRequest by_query{.method = "GET",
                          .target = std::string{"/apisix/admin/routes?api_key="} + kAdminKey};
    EXPECT_EQ(api_->handle(by_query).status, 200u);
    AdminRequest by_cookie{.method = "GET",
                           .target = "/apisix/admin/routes",
                           .cookie = std::string{"a=b; x_api_key="} + kAdminKey + "; c=d"};
    EXPECT_EQ(api_->handle(by_cookie).status, 200u);
}

TEST_F(AdminApiTest, ViewerMayOnlyRead) {
    putUpstream("u1");
    EXPECT_EQ(call("GET", "upstreams/u1", "", kViewerKey).status, 200u);
    auto denied = call("PUT", "upstreams/u2", R"({"nodes":{"127.0.0.1:1":1}})", kViewerKey);
    EXPECT_EQ(denied.status, 403u);
    EXPECT_EQ(call("DELETE", "upstreams/u1", "", kViewerKey).status, 403u);
    EXPECT_EQ(store_->get("upstreams", "u2"), nullptr);
}

TEST_F(AdminApiTest, PutCreatesThenReplacesKeepingCreateTime) {
    auto created = call("PUT", "upstreams/u1", R"({"nodes":{"127.0.0.1:8001":1},"scheme":"http"})");
    EXPECT_EQ(created.status, 201u);
    Document body = json(created);
    EXPECT_EQ(body["key"], "/apisix/upstreams/u1");
    EXPECT_EQ(body["value"]["id"], "u1");
    EXPECT_EQ(body["value"]["create_time"], 1700000000);
    EXPECT_EQ(body["value"]["update_time"], 1700000000);
    EXPECT_EQ(host_.published, 1);

    host_.clock += 60;
    auto replaced = call("PUT", "upstreams/u1", R"({"nodes":{"127.0.0.1:8002":1}})");
    EXPECT_EQ(replaced.status, 200u);
    body = json(replaced);
    EXPECT_EQ(body["value"]["create_time"], 1700000000);
    EXPECT_EQ(body["value"]["update_time"], 1700000060);
    EXPECT_FALSE(body["value"].contains("scheme"));  // replace, not merge
    EXPECT_EQ(body["createdIndex"], 1);
    EXPECT_EQ(body["modifiedIndex"], 2);
}

TEST_F(AdminApiTest, PutWithoutIdInPathTakesItFromTheBody) {
    auto created = call("PUT", "upstreams", R"({"id":"u9","nodes":{"127.0.0.1:1":1}})");
    EXPECT_EQ(created.status, 201u);
    EXPECT_NE(store_->get("upstreams", "u9"), nullptr);
    auto missing = call("PUT", "upstreams", R"({"nodes":{"127.0.0.1:1":1}})");
    EXPECT_EQ(missing.status, 400u);
    EXPECT_EQ(json(missing)["error_msg"], "missing upstream id");
}

TEST_F(AdminApiTest, PostGeneratesIncreasingIds) {
    auto first = call("POST", "upstreams", R"({"nodes":{"127.0.0.1:1":1}})");
    auto second = call("POST", "upstreams", R"({"nodes":{"127.0.0.1:2":1}})");
    ASSERT_EQ(first.status, 201u);
    ASSERT_EQ(second.status, 201u);
    std::string a = json(first)["value"]["id"];
    std::string b = json(second)["value"]["id"];
    EXPECT_EQ(a.size(), 20u);
    EXPECT_LT(a, b);
    EXPECT_EQ(call("POST", "upstreams", R"({"id":"x","nodes":{"127.0.0.1:1":1}})").status, 400u);
}

TEST_F(AdminApiTest, GetOneListAndPaging) {
    EXPECT_EQ(call("GET", "routes/nope").status, 404u);
    EXPECT_EQ(json(call("GET", "routes/nope")), (Document{{"message", "Key not found"}}));
    for (int i = 0; i < 12; ++i)
        putUpstream("u" + std::to_string(i));
    auto one = json(call("GET", "upstreams/u3"));
    EXPECT_EQ(one["key"], "/apisix/upstreams/u3");
    EXPECT_TRUE(one.contains("createdIndex"));
    EXPECT_TRUE(one.contains("modifiedIndex"));
    auto all = json(call("GET", "upstreams"));
    EXPECT_EQ(all["total"], 12);
    EXPECT_EQ(all["list"].size(), 12u);
    auto page2 = json(call("GET", "upstreams?page=2&page_size=10"));
    EXPECT_EQ(page2["total"], 12);
    ASSERT_EQ(page2["list"].size(), 2u);
    EXPECT_EQ(page2["list"][0]["value"]["id"], "u10");
    EXPECT_EQ(call("GET", "upstreams?page=0").status, 400u);
    EXPECT_EQ(call("GET", "upstreams?page_size=5").status, 400u);
}

TEST_F(AdminApiTest, ValidationUsesTheFileSchemaWithPaths) {
    auto bad = call("PUT", "upstreams/u1", R"({"nodes":{"127.0.0.1:99999":1}})");
    EXPECT_EQ(bad.status, 400u);
    EXPECT_EQ(json(bad)["error_msg"],
              "invalid configuration: nodes[\"127.0.0.1:99999\"]: port must be between 1 and "
              "65535");
    auto unknown = call("PUT", "upstreams/u1", R"({"nodes":{"127.0.0.1:1":1},"colour":"red"})");
    EXPECT_EQ(unknown.status, 400u);
    EXPECT_NE(json(unknown)["error_msg"].get<std::string>().find("colour"), std::string::npos);
    EXPECT_EQ(store_->get("upstreams", "u1"), nullptr);
    EXPECT_EQ(host_.published, 0);
}

TEST_F(AdminApiTest, BodyErrors) {
    auto invalid = call("PUT", "upstreams/u1", R"({"nodes":)");
    EXPECT_EQ(invalid.status, 400u);
    EXPECT_EQ(
        json(invalid)["error_msg"].get<std::string>().rfind("invalid JSON in the request body", 0),
        0u);
    EXPECT_EQ(call("PUT", "upstreams/u1", "[1,2]").status, 400u);
    auto mismatch = call("PUT", "upstreams/u1", R"({"id":"u2","nodes":{"127.0.0.1:1":1}})");
    EXPECT_EQ(mismatch.status, 400u);
    EXPECT_EQ(json(mismatch)["error_msg"],
              "wrong upstream id: the path says \"u1\" but the body says \"u2\"");
    auto times = call("PUT", "upstreams/u1", R"({"create_time":1,"nodes":{"127.0.0.1:1":1}})");
    EXPECT_EQ(times.status, 400u);
    EXPECT_EQ(json(times)["error_msg"], "the property is forbidden: create_time");
    auto big = call("PUT", "upstreams/u1", std::string(kMaxAdminBodyBytes + 1, ' '));
    EXPECT_EQ(big.status, 400u);
    EXPECT_NE(json(big)["error_msg"].get<std::string>().find("too large"), std::string::npos);
    auto bad_id = call("PUT", "upstreams/a%20b", R"({"nodes":{"127.0.0.1:1":1}})");
    EXPECT_EQ(bad_id.status, 400u);
    EXPECT_NE(json(bad_id)["error_msg"].get<std::string>().find("invalid id"), std::string::npos);
}

TEST_F(AdminApiTest, RouteReferencesMustExist) {
    auto dangling = call("PUT", "routes/r1",
                         R"({"uri":"/llm/*","plugins":{"ai-proxy":{"upstream_id":"ghost"}}})");
    EXPECT_EQ(dangling.status, 400u);
    EXPECT_EQ(json(dangling)["error_msg"],
              "invalid configuration: plugins.ai-proxy.upstream_id: upstream \"ghost\" does not "
              "exist");
    // The file's upstreams count as well as admin-managed ones.
    EXPECT_EQ(call("PUT", "routes/r1",
                   R"({"uri":"/llm/*","plugins":{"ai-proxy":{"upstream_id":"file_upstream"}}})")
                  .status,
              201u);
}

TEST_F(AdminApiTest, FileDeclaredIdsAreReadOnlyHere) {
    auto response = call("PUT", "upstreams/file_upstream", R"({"nodes":{"127.0.0.1:1":1}})");
    EXPECT_EQ(response.status, 400u);
    EXPECT_NE(json(response)["error_msg"].get<std::string>().find("config file"),
              std::string::npos);
    EXPECT_EQ(call("DELETE", "routes/file_route").status, 400u);
}

TEST_F(AdminApiTest, DeleteRefusesAnUpstreamInUseUnlessForced) {
    putUpstream("openai_upstream");
    ASSERT_EQ(call("PUT", "routes/llm_route",
                   R"({"uri":"/llm/*","plugins":{"ai-proxy":{"upstream_id":"openai_upstream"}}})")
                  .status,
              201u);
    auto refused = call("DELETE", "upstreams/openai_upstream");
    EXPECT_EQ(refused.status, 400u);
    EXPECT_EQ(json(refused)["error_msg"],
              "can not delete this upstream, route [llm_route] is still using it now");
    auto forced = call("DELETE", "upstreams/openai_upstream?force=true");
    EXPECT_EQ(forced.status, 200u);
    EXPECT_EQ(json(forced), (Document{{"deleted", "openai_upstream"},
                                      {"key", "/apisix/upstreams/openai_upstream"}}));
    // The route whose upstream is gone leaves the data plane instead of breaking it.
    bool route_served = false;
    for (const auto& route : host_.last_effective.routes)
        route_served = route_served || route.id == "llm_route";
    EXPECT_FALSE(route_served);
    EXPECT_EQ(call("DELETE", "upstreams/openai_upstream").status, 404u);
}

TEST_F(AdminApiTest, ConsumerGroupsAreCheckedReferencedAndProtectedFromDeletion) {
    auto bad = call("PUT", "consumer_groups/gold",
                    R"({"plugins":{"limit-count":{"count":0,"time_window":60}}})");
    EXPECT_EQ(bad.status, 400u);
    EXPECT_EQ(json(bad)["error_msg"],
              "invalid configuration: plugins.limit-count.count: must be > 0");
    auto dangling = call("PUT", "consumers/alice",
                         R"({"plugins":{"key-auth":{"key":"k-alice"}},"group_id":"gold"})");
    EXPECT_EQ(dangling.status, 400u);
    EXPECT_EQ(json(dangling)["error_msg"],
              "invalid configuration: group_id: consumer group \"gold\" does not exist");

    auto created =
        call("PUT", "consumer_groups/gold",
             R"({"desc":"paid","plugins":{"limit-count":{"count":3,"time_window":60}}})");
    ASSERT_EQ(created.status, 201u) << created.body;
    EXPECT_EQ(json(created)["key"], "/apisix/consumer_groups/gold");
    ASSERT_EQ(call("PUT", "consumers/alice",
                   R"({"plugins":{"key-auth":{"key":"k-alice"}},"group_id":"gold"})")
                  .status,
              201u);
    ASSERT_EQ(host_.last_effective.consumer_groups.size(), 1u);
    EXPECT_EQ(host_.last_effective.consumer_groups[0].limit_count->count, 3);
    ASSERT_EQ(host_.last_effective.consumers.size(), 1u);
    EXPECT_EQ(host_.last_effective.consumers[0].group_id, "gold");

    auto refused = call("DELETE", "consumer_groups/gold");
    EXPECT_EQ(refused.status, 400u);
    EXPECT_EQ(json(refused)["error_msg"],
              "can not delete this consumer group, consumer [alice] is still using it now");
    EXPECT_EQ(call("DELETE", "consumer_groups/gold?force=true").status, 200u);
    // The member whose group is gone leaves the data plane (as a route whose upstream went).
    EXPECT_TRUE(host_.last_effective.consumers.empty());
}

TEST_F(AdminApiTest, PatchMergesObjectsDeletesNullsReplacesArrays) {
    putUpstream("u1");
    ASSERT_EQ(call("PUT", "routes/r1", R"({"uri":"/a/*","methods":["GET","POST"],"priority":3,
        "plugins":{"ai-proxy":{"upstream_id":"u1","retry":2,"timeout":1000}}})")
                  .status,
              201u);
    host_.clock += 5;
    auto patched =
        call("PATCH", "routes/r1",
             R"({"methods":["PUT"],"priority":null,"plugins":{"ai-proxy":{"retry":0}}})");
    ASSERT_EQ(patched.status, 200u) << patched.body;
    Document value = json(patched)["value"];
    EXPECT_EQ(value["methods"], (Document{"PUT"}));
    EXPECT_FALSE(value.contains("priority"));
    EXPECT_EQ(value["plugins"]["ai-proxy"]["retry"], 0);
    EXPECT_EQ(value["plugins"]["ai-proxy"]["timeout"], 1000);  // merged, not replaced
    EXPECT_EQ(value["update_time"], 1700000005);
    EXPECT_EQ(value["create_time"], 1700000000);
}

TEST_F(AdminApiTest, PatchOnASubPathReplacesThatValue) {
    putUpstream("u1");
    ASSERT_EQ(
        call("PUT", "routes/r1",
             R"({"uri":"/a/*","methods":["GET"],"plugins":{"ai-proxy":{"upstream_id":"u1"}}})")
            .status,
        201u);
    auto patched = call("PATCH", "routes/r1/methods", R"(["POST","DELETE"])");
    ASSERT_EQ(patched.status, 200u) << patched.body;
    EXPECT_EQ(json(patched)["value"]["methods"], (Document{"POST", "DELETE"}));
    auto nested = call("PATCH", "routes/r1/plugins/ai-proxy/retry", "3");
    ASSERT_EQ(nested.status, 200u) << nested.body;
    EXPECT_EQ(json(nested)["value"]["plugins"]["ai-proxy"]["retry"], 3);
    EXPECT_EQ(call("PATCH", "routes/r1/nothing/here", "1").status, 400u);
    // A patch that makes the object invalid is refused and changes nothing.
    auto invalid = call("PATCH", "routes/r1/methods", R"(["FETCH"])");
    EXPECT_EQ(invalid.status, 400u);
    EXPECT_EQ(store_->get("routes", "r1")->value["methods"], (Document{"POST", "DELETE"}));
    EXPECT_EQ(call("PATCH", "routes/ghost", "{}").status, 404u);
}

TEST_F(AdminApiTest, FailedPrepareStoresNothing) {
    host_.fail_prepare = "TLS setup failed";
    auto response = call("PUT", "upstreams/u1", R"({"nodes":{"127.0.0.1:1":1}})");
    EXPECT_EQ(response.status, 400u);
    EXPECT_EQ(store_->get("upstreams", "u1"), nullptr);
    EXPECT_EQ(host_.published, 0);
}

TEST_F(AdminApiTest, UnknownResourcesAndMethods) {
    EXPECT_EQ(call("GET", "services").status, 404u);
    EXPECT_EQ(call("OPTIONS", "routes/r1").status, 405u);
    AdminRequest outside{.method = "GET", .target = "/other", .x_api_key = kAdminKey};
    EXPECT_EQ(api_->handle(outside).status, 404u);
}

TEST_F(AdminApiTest, SecretsAreMaskedOnRead) {
    auto response = call(
        "PUT", "upstreams/u1",
        R"({"nodes":{"127.0.0.1:1":1},"auth":{"header":{"Authorization":"Bearer sk-secret"}}})");
    // auth arrives with the provider issue; until then the schema refuses it, and either way
    // the secret must not come back.
    EXPECT_EQ(response.body.find("sk-secret"), std::string::npos);
    if (response.status == 201) {
        EXPECT_EQ(call("GET", "upstreams/u1").body.find("sk-secret"), std::string::npos);
    }
}

TEST(MergePatch, FollowsRfc7396) {
    Document target = Document::parse(R"({"a":"b","c":{"d":"e","f":"g"},"l":[1,2]})");
    mergePatch(target, Document::parse(R"({"a":"z","c":{"f":null},"l":[3]})"));
    EXPECT_EQ(target, Document::parse(R"({"a":"z","c":{"d":"e"},"l":[3]})"));
    Document scalar = 1;
    mergePatch(scalar, Document::parse(R"({"x":{"y":null}})"));
    EXPECT_EQ(scalar, Document::parse(R"({"x":{}})"));
}

}  // namespace
}  // namespace aiproxy::admin
