// The embedded store: every admin-managed object in one JSON state file, rewritten atomically
// on each change, so a kill -9 at any moment leaves either the old or the new file.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include "aiproxy/common/json_depth.hpp"
#include "aiproxy/config/store.hpp"

namespace aiproxy::config {
namespace {

constexpr int kStateVersion = 1;
constexpr std::size_t kMaxStateBytes = std::size_t{1} << 30;
// A write that would make the state file larger is refused: every admin write rewrites the whole
// file on the control thread, so its size bounds how long that thread is busy.
constexpr std::size_t kMaxStateWriteBytes = std::size_t{64} << 20;

std::string systemError(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + std::strerror(errno);
}

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

private:
    int fd_;
};

void writeAll(int fd, std::string_view data, const std::string& path) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            throw StoreError(systemError("cannot write", path));
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

class FileStore final : public Store {
public:
    explicit FileStore(std::filesystem::path dir)
        : dir_(std::move(dir)), path_(dir_ / "state.json"), temp_path_(dir_ / "state.json.tmp") {}

    void load() override {
        resources_.clear();
        index_ = 0;
        Fd fd{::open(path_.c_str(), O_RDONLY | O_CLOEXEC)};
        if (fd.get() < 0) {
            if (errno == ENOENT) return;  // first start: nothing stored yet
            throw StoreError(systemError("cannot read the state file", path_.string()));
        }
        std::string text;
        char buffer[65536];
        while (true) {
            ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw StoreError(systemError("cannot read the state file", path_.string()));
            }
            if (n == 0) break;
            text.append(buffer, static_cast<std::size_t>(n));
            if (text.size() > kMaxStateBytes) {
                throw StoreError("the state file " + path_.string() + " is larger than 1 GiB");
            }
        }
        parse(text);
    }

    const StoredObject* get(std::string_view resource, std::string_view id) const override {
        auto found = resources_.find(resource);
        if (found == resources_.end()) return nullptr;
        auto object = found->second.find(id);
        return object == found->second.end() ? nullptr : &object->second;
    }

    std::vector<const StoredObject*> list(std::string_view resource) const override {
        std::vector<const StoredObject*> objects;
        auto found = resources_.find(resource);
        if (found == resources_.end()) return objects;
        for (const auto& [id, object] : found->second)
            objects.push_back(&object);
        std::sort(objects.begin(), objects.end(),
                  [](const auto* a, const auto* b) { return a->created_index < b->created_index; });
        return objects;
    }

    const StoredObject& put(std::string_view resource, std::string_view id,
                            Document value) override {
        auto next = resources_;
        std::uint64_t index = index_ + 1;
        auto& objects = next[std::string{resource}];
        auto [it, created] = objects.try_emplace(std::string{id});
        StoredObject& object = it->second;
        object.id = std::string{id};
        object.value = std::move(value);
        if (created) object.created_index = index;
        object.modified_index = index;
        persist(next, index);
        resources_ = std::move(next);
        index_ = index;
        return resources_.find(resource)->second.find(id)->second;
    }

    bool remove(std::string_view resource, std::string_view id) override {
        auto found = resources_.find(resource);
        if (found == resources_.end() || found->second.find(id) == found->second.end()) {
            return false;
        }
        auto next = resources_;
        auto& objects = next.find(resource)->second;
        objects.erase(objects.find(id));
        persist(next, index_ + 1);
        resources_ = std::move(next);
        ++index_;
        return true;
    }

    void watch(std::function<void(std::string_view, std::string_view)>) override {}

private:
    using Objects = std::map<std::string, StoredObject, std::less<>>;
    using Resources = std::map<std::string, Objects, std::less<>>;

    [[noreturn]] void corrupt(const std::string& detail) const {
        throw StoreError("the state file " + path_.string() + " is damaged: " + detail +
                         "; the gateway will not start on it (restore it from a backup, or move "
                         "it away to start with no admin-managed objects)");
    }

    void parse(const std::string& text) {
        Document state;
        if (common::nestsDeeperThan(text, common::kMaxDocumentDepth)) {
            corrupt("it nests deeper than " + std::to_string(common::kMaxDocumentDepth) +
                    " levels");
        }
        try {
            state = Document::parse(text);
        } catch (const nlohmann::json::parse_error& error) {
            // nlohmann counts from 1; offsets in hex editors and `dd skip=` count from 0.
            std::size_t offset = error.byte == 0 ? 0 : error.byte - 1;
            std::string what = error.what();
            auto detail = what.find("syntax error");
            std::string reason = detail == std::string::npos ? what : what.substr(detail);
            corrupt("invalid JSON at byte offset " + std::to_string(offset) +
                    (offset >= text.size() ? " (the end of the file: truncated?)" : "") + ": " +
                    reason);
        }
        if (!state.is_object() || !state.contains("version") || !state.contains("objects")) {
            corrupt("not an aiproxy state file (expected version and objects at the top level)");
        }
        if (state["version"] != kStateVersion) {
            corrupt("unsupported version " + state["version"].dump());
        }
        if (state.contains("index") && state["index"].is_number_unsigned()) {
            index_ = state["index"].get<std::uint64_t>();
        }
        const Document& objects = state["objects"];
        if (!objects.is_object()) corrupt("\"objects\" must be an object");
        for (const auto& [resource, members] : objects.items()) {
            if (!members.is_object()) corrupt("objects." + resource + " must be an object");
            for (const auto& [id, entry] : members.items()) {
                std::string where = "objects." + resource + "." + id;
                if (!entry.is_object() || !entry.contains("value") || !entry["value"].is_object() ||
                    !entry.contains("createdIndex") ||
                    !entry["createdIndex"].is_number_unsigned() ||
                    !entry.contains("modifiedIndex") ||
                    !entry["modifiedIndex"].is_number_unsigned()) {
                    corrupt(where + " must hold value, createdIndex and modifiedIndex");
                }
                StoredObject object{.id = id,
                                    .value = entry["value"],
                                    .created_index = entry["createdIndex"].get<std::uint64_t>(),
                                    .modified_index = entry["modifiedIndex"].get<std::uint64_t>()};
                index_ = std::max(index_, object.modified_index);
                resources_[resource].emplace(id, std::move(object));
            }
        }
    }

    std::string serialize(const Resources& resources, std::uint64_t index) const {
        Document objects = Document::object();
        for (const auto& [resource, members] : resources) {
            Document entries = Document::object();
            for (const auto& [id, object] : members) {
                entries[id] = Document{{"value", object.value},
                                       {"createdIndex", object.created_index},
                                       {"modifiedIndex", object.modified_index}};
            }
            objects[resource] = std::move(entries);
        }
        Document state{{"version", kStateVersion}, {"index", index}, {"objects", objects}};
        return state.dump() + "\n";  // compact: indentation multiplied the size of nested values
    }

    // temp file, fsync, rename over the old one, fsync the directory: the rename is the commit.
    void persist(const Resources& resources, std::uint64_t index) const {
        try {
            persistOrThrow(resources, index);
        } catch (const nlohmann::json::exception& error) {
            throw StoreError(std::string{"cannot serialize the state: "} + error.what());
        }
    }

    void persistOrThrow(const Resources& resources, std::uint64_t index) const {
        std::error_code ec;
        if (!std::filesystem::exists(dir_, ec)) {
            std::filesystem::create_directories(dir_, ec);
            if (ec) {
                throw StoreError("cannot create the data directory " + dir_.string() + ": " +
                                 ec.message());
            }
            ::chmod(dir_.c_str(), 0700);
        }
        std::string text = serialize(resources, index);
        if (text.size() > kMaxStateWriteBytes) {
            throw StoreError("the state would grow to " + std::to_string(text.size()) +
                             " bytes, over the limit of " + std::to_string(kMaxStateWriteBytes));
        }
        std::string temp = temp_path_.string();
        {
            Fd fd{::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
            if (fd.get() < 0) throw StoreError(systemError("cannot create", temp));
            writeAll(fd.get(), text, temp);
            if (::fsync(fd.get()) != 0) throw StoreError(systemError("cannot fsync", temp));
            if (::close(fd.release()) != 0) throw StoreError(systemError("cannot close", temp));
        }
        if (::rename(temp.c_str(), path_.c_str()) != 0) {
            throw StoreError(systemError("cannot replace", path_.string()));
        }
        Fd dir{::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
        if (dir.get() < 0 || ::fsync(dir.get()) != 0) {
            throw StoreError(systemError("cannot fsync the directory", dir_.string()));
        }
    }

    std::filesystem::path dir_;
    std::filesystem::path path_;
    std::filesystem::path temp_path_;
    Resources resources_;
    std::uint64_t index_ = 0;
};

}  // namespace

std::unique_ptr<Store> makeFileStore(const std::string& data_dir) {
    // Absolute, so messages name the file wherever the daemon was started from.
    std::error_code ec;
    auto absolute = std::filesystem::absolute(data_dir, ec);
    return std::make_unique<FileStore>(ec ? std::filesystem::path{data_dir}
                                          : absolute.lexically_normal());
}

}  // namespace aiproxy::config
