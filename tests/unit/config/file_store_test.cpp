// FileStore: durable writes, reload, and a clear refusal of damaged state files.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "aiproxy/config/store.hpp"

namespace aiproxy::config {
namespace {

class FileStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::random_device random;
        dir_ = std::filesystem::temp_directory_path() /
               ("aiproxy-store-test-" + std::to_string(random()));
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::filesystem::path statePath() const { return dir_ / "state.json"; }
    void writeState(const std::string& text) const {
        std::filesystem::create_directories(dir_);
        std::ofstream{statePath()} << text;
    }
    std::string loadError() const {
        auto store = makeFileStore(dir_.string());
        try {
            store->load();
        } catch (const StoreError& error) {
            return error.what();
        }
        return "";
    }

    std::filesystem::path dir_;
};

TEST_F(FileStoreTest, StartsEmptyWithoutCreatingAnything) {
    auto store = makeFileStore(dir_.string());
    store->load();
    EXPECT_TRUE(store->list("routes").empty());
    EXPECT_FALSE(std::filesystem::exists(dir_));
}

TEST_F(FileStoreTest, PutAssignsIndexesAndKeepsCreatedIndexOnReplace) {
    auto store = makeFileStore(dir_.string());
    store->load();
    const auto& first = store->put("routes", "a", Document{{"id", "a"}, {"uri", "/a"}});
    EXPECT_EQ(first.created_index, 1u);
    EXPECT_EQ(first.modified_index, 1u);
    store->put("routes", "b", Document{{"id", "b"}});
    const auto& replaced = store->put("routes", "a", Document{{"id", "a"}, {"uri", "/a2"}});
    EXPECT_EQ(replaced.created_index, 1u);
    EXPECT_EQ(replaced.modified_index, 3u);
    auto list = store->list("routes");
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0]->id, "a");  // creation order
    EXPECT_EQ(list[1]->id, "b");
}

TEST_F(FileStoreTest, EveryChangeIsOnDiskWhenPutReturns) {
    {
        auto store = makeFileStore(dir_.string());
        store->load();
        store->put("upstreams", "u1", Document{{"id", "u1"}});
        store->put("routes", "r1", Document{{"id", "r1"}, {"uri", "/x"}});
        EXPECT_TRUE(store->remove("upstreams", "u1"));
        EXPECT_FALSE(store->remove("upstreams", "u1"));
    }
    auto reopened = makeFileStore(dir_.string());
    reopened->load();
    EXPECT_EQ(reopened->get("upstreams", "u1"), nullptr);
    const StoredObject* route = reopened->get("routes", "r1");
    ASSERT_NE(route, nullptr);
    EXPECT_EQ(route->value["uri"], "/x");
    // The index continues where it was, so modifiedIndex never goes back.
    const auto& next = reopened->put("routes", "r2", Document{{"id", "r2"}});
    EXPECT_EQ(next.created_index, 4u);
    EXPECT_FALSE(std::filesystem::exists(dir_ / "state.json.tmp"));
}

TEST_F(FileStoreTest, StateFileAndDirectoryArePrivate) {
    auto store = makeFileStore(dir_.string());
    store->load();
    store->put("routes", "a", Document{{"id", "a"}});
    struct stat info {};
    ASSERT_EQ(::stat(statePath().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat(dir_.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0700u);
}

TEST_F(FileStoreTest, TruncatedFileNamesTheFileAndTheOffset) {
    writeState(R"({"version":1,"index":2,"objects":{"routes":{"a":{"value":{"id")");
    std::string error = loadError();
    EXPECT_NE(error.find(statePath().string()), std::string::npos) << error;
    EXPECT_NE(error.find("byte offset 62 (the end of the file: truncated?)"), std::string::npos)
        << error;
}

TEST_F(FileStoreTest, GarbageAndWrongShapesAreRefused) {
    writeState("\x01\x02 not json");
    EXPECT_NE(loadError().find("byte offset 0:"), std::string::npos) << loadError();
    writeState(R"({"something":"else"})");
    EXPECT_NE(loadError().find("not an aiproxy state file"), std::string::npos);
    writeState(R"({"version":9,"objects":{}})");
    EXPECT_NE(loadError().find("unsupported version 9"), std::string::npos);
    writeState(R"({"version":1,"objects":{"routes":{"a":{"value":1}}}})");
    EXPECT_NE(loadError().find("objects.routes.a must hold value, createdIndex and modifiedIndex"),
              std::string::npos)
        << loadError();
    writeState("");
    EXPECT_NE(loadError().find("is damaged"), std::string::npos);
}

TEST_F(FileStoreTest, FailedWriteChangesNothing) {
    auto store = makeFileStore(dir_.string());
    store->load();
    store->put("routes", "a", Document{{"id", "a"}});
    // A directory where the temp file goes makes the write fail.
    std::filesystem::create_directory(dir_ / "state.json.tmp");
    EXPECT_THROW(store->put("routes", "b", Document{{"id", "b"}}), StoreError);
    EXPECT_EQ(store->get("routes", "b"), nullptr);
    EXPECT_THROW(store->remove("routes", "a"), StoreError);
    EXPECT_NE(store->get("routes", "a"), nullptr);
}

}  // namespace
}  // namespace aiproxy::config
