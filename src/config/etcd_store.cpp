// The cluster store. Two threads, one owner each:
// - the etcd thread runs EtcdClient: the initial read, the watch of <prefix>/ (resumed from the
//   last revision it saw; a compacted revision means a full read again), a probe every second
//   that notices a hung etcd, and the Admin API's compare-and-swap transactions;
// - the control thread owns the copy of the objects that get() and list() read. Everything the
//   etcd thread learns arrives as a closure posted there, so the copy needs no lock and no call
//   on the control thread ever waits for etcd (except load(), once, at start).
// A write is answered only after etcd committed it and the copy (and the snapshot, through the
// watch callback) include it.

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "aiproxy/common/json_depth.hpp"
#include "aiproxy/config/etcd_protocol.hpp"
#include "aiproxy/config/store.hpp"
#include "etcd_client.hpp"

namespace aiproxy::config {
namespace {

namespace net = boost::asio;
using common::awaitable;
using common::use_nothrow;
using etcd::Reply;

constexpr std::chrono::milliseconds kFirstRetry{100};
constexpr std::chrono::milliseconds kMaxRetry{1000};
constexpr std::chrono::milliseconds kProbeEvery{1000};

class EtcdStore final : public Store {
public:
    EtcdStore(const EtcdConfig& settings, PostFunction post)
        : settings_(settings), post_(std::move(post)), client_(io_.get_executor(), settings) {}

    ~EtcdStore() override {
        work_.reset();
        io_.stop();
        if (thread_.joinable()) thread_.join();
    }
    EtcdStore(const EtcdStore&) = delete;
    EtcdStore& operator=(const EtcdStore&) = delete;

    void load() override {
        auto answered = std::make_shared<std::promise<Reply>>();
        auto answer = answered->get_future();
        std::string path = "/v3/kv/range";
        std::string body = etcd::rangeRequest(settings_.prefix);
        net::co_spawn(io_, client_.call(path, body), [answered](std::exception_ptr, Reply reply) {
            answered->set_value(std::move(reply));
        });
        thread_ = std::thread([this] { io_.run(); });
        std::uint64_t revision = 0;
        std::string error;
        // The client's own deadlines end the call; the margin only covers a slow resolver.
        if (answer.wait_for(settings_.timeout * 2 + std::chrono::seconds(1)) !=
            std::future_status::ready) {
            error = "etcd did not answer in time";
        } else if (Reply reply = answer.get(); !reply.ok) {
            error = reply.error;
        } else if (auto range = etcd::parseRange(reply.body, error)) {
            revision = range->revision;
            applyRange(std::move(*range));
        }
        if (revision == 0) {
            setDown(error);
            spdlog::warn(
                "etcd is unavailable at start ({}): serving the config file's objects only, "
                "retrying until it answers",
                error);
        } else {
            up_ = true;
            spdlog::info("etcd: loaded {} object(s) under {}/ at revision {}", count(),
                         settings_.prefix, revision);
        }
        net::co_spawn(io_, follow(revision), net::detached);
        net::co_spawn(io_, probe(), net::detached);
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

    const StoredObject& put(std::string_view, std::string_view, Document) override {
        throw StoreError("the etcd store takes asynchronous writes only (putAsync)");
    }
    bool remove(std::string_view, std::string_view) override {
        throw StoreError("the etcd store takes asynchronous writes only (removeAsync)");
    }

    void watch(std::function<void(std::string_view, std::string_view)> callback) override {
        watcher_ = std::move(callback);
    }

    void putAsync(std::string_view resource, std::string_view id, Document value,
                  WriteDone done) override {
        if (!up()) {
            done(unavailable());
            return;
        }
        const StoredObject* existing = get(resource, id);
        std::optional<std::uint64_t> expected;
        if (existing) expected = existing->modified_index;
        std::uint64_t created = existing ? existing->created_index : 0;
        std::string key = etcd::keyOf(settings_.prefix, resource, id);
        std::string body = etcd::putIfRequest(key, value.dump(), expected);
        StoredObject object{.id = std::string{id}, .value = std::move(value)};
        transact(std::move(body),
                 [this, resource = std::string{resource}, object = std::move(object), created,
                  done = std::move(done)](Reply reply) mutable {
                     WriteResult result = outcome(reply);
                     if (result.status == WriteResult::Status::Committed) {
                         std::uint64_t revision = committedRevision(reply);
                         object.created_index = created == 0 ? revision : created;
                         object.modified_index = revision;
                         std::string object_id = object.id;
                         if (applyPut(resource, std::move(object))) notify();
                         result.object = get(resource, object_id);
                         result.published = true;
                         if (!result.object) {  // a later change removed it again meanwhile
                             result = {.status = WriteResult::Status::Conflict,
                                       .error = "removed by another writer right after this write"};
                         }
                     }
                     done(std::move(result));
                 });
    }

    void removeAsync(std::string_view resource, std::string_view id, WriteDone done) override {
        if (!up()) {
            done(unavailable());
            return;
        }
        const StoredObject* existing = get(resource, id);
        if (!existing) {
            done({});
            return;
        }
        std::string key = etcd::keyOf(settings_.prefix, resource, id);
        std::string body = etcd::deleteIfRequest(key, existing->modified_index);
        transact(std::move(body), [this, key, done = std::move(done)](Reply reply) mutable {
            WriteResult result = outcome(reply);
            if (result.status == WriteResult::Status::Committed) {
                if (applyDelete(key, committedRevision(reply))) notify();
                result.published = true;
            }
            done(std::move(result));
        });
    }

    bool up() const override { return up_.load(); }
    std::uint64_t invalidValues() const override { return invalid_.load(); }

private:
    using Objects = std::map<std::string, StoredObject, std::less<>>;
    using Resources = std::map<std::string, Objects, std::less<>>;

    // --- the etcd thread ---

    // The initial read (when load() could not do it), then the watch, for as long as the store
    // lives; etcd going away and coming back only moves it between these.
    awaitable<void> follow(std::uint64_t revision) {
        net::steady_timer timer{io_};
        auto retry = kFirstRetry;
        const std::string range_path = "/v3/kv/range";
        for (;;) {
            if (revision == 0) {
                std::string body = etcd::rangeRequest(settings_.prefix);
                Reply reply = co_await client_.call(range_path, body);
                std::string error = reply.error;
                std::optional<etcd::RangeResult> range;
                if (reply.ok) range = etcd::parseRange(reply.body, error);
                if (!range) {
                    setDown(error);
                    timer.expires_after(retry);
                    co_await timer.async_wait(use_nothrow);
                    retry = std::min(retry * 2, kMaxRetry);
                    continue;
                }
                revision = range->revision;
                spdlog::info("etcd: read {} key(s) under {}/ at revision {}", range->kvs.size(),
                             settings_.prefix, revision);
                post_([this, range = std::make_shared<etcd::RangeResult>(std::move(*range))] {
                    applyRange(std::move(*range));
                    notify();
                });
            }
            bool compacted = false;
            // Named: GCC 12 double-frees a temporary passed by value into a coroutine.
            std::function<bool(const etcd::WatchMessage&)> on_message =
                [&](const etcd::WatchMessage& message) {
                    if (message.canceled) {
                        compacted = message.compact_revision > 0;
                        return false;
                    }
                    if (message.created) {
                        watching_ = true;
                        retry = kFirstRetry;
                        setUp(revision);
                    }
                    if (!message.events.empty()) {
                        revision = std::max(revision, message.events.back().kv.mod_revision);
                        post_([this, events = std::make_shared<std::vector<etcd::WatchEvent>>(
                                         message.events)] { applyEvents(*events); });
                    }
                    return true;
                };
            std::string why = co_await client_.watch(revision + 1, on_message);
            watching_ = false;
            if (compacted) {
                spdlog::warn("etcd: revision {} was compacted away; reading everything again",
                             revision + 1);
                revision = 0;
                continue;
            }
            setDown(why);
            timer.expires_after(retry);
            co_await timer.async_wait(use_nothrow);
            retry = std::min(retry * 2, kMaxRetry);
        }
    }

    // An open watch says nothing while etcd hangs; a small read every second does.
    awaitable<void> probe() {
        net::steady_timer timer{io_};
        const std::string path = "/v3/kv/range";
        const std::string body = etcd::rangeRequest(settings_.prefix, true);
        for (;;) {
            timer.expires_after(kProbeEvery);
            co_await timer.async_wait(use_nothrow);
            if (!watching_) continue;
            Reply reply = co_await client_.call(path, body);
            if (!reply.ok && watching_) {
                setDown(reply.error);
                client_.cancelWatch();
            }
        }
    }

    // Runs a transaction on the etcd thread and `finish` with its reply on the control thread.
    void transact(std::string body, std::function<void(Reply)> finish) {
        net::post(io_, [this, body = std::move(body), finish = std::move(finish)]() mutable {
            std::string path = "/v3/kv/txn";
            net::co_spawn(io_, client_.call(path, body),
                          [this, finish = std::move(finish)](std::exception_ptr, Reply reply) {
                              post_([finish, reply = std::move(reply)] { finish(reply); });
                          });
        });
    }

    void setDown(const std::string& reason) {
        {
            std::lock_guard lock{reason_mutex_};
            down_reason_ = reason;
        }
        if (up_.exchange(false) || !announced_down_) {
            announced_down_ = true;
            spdlog::warn("etcd unavailable: {}; serving the last configuration read", reason);
        }
    }

    void setUp(std::uint64_t revision) {
        if (!up_.exchange(true)) {
            announced_down_ = false;
            spdlog::info("etcd: watching {}/ from revision {}", settings_.prefix, revision + 1);
        }
    }

    // --- the control thread ---

    WriteResult unavailable() const {
        std::lock_guard lock{reason_mutex_};
        return {.status = WriteResult::Status::Unavailable,
                .error = "etcd is unavailable: " + down_reason_};
    }

    static WriteResult outcome(const Reply& reply) {
        if (!reply.ok) {
            // An answer means etcd refused it; no answer may still have committed.
            if (!reply.body.empty()) {
                return {.status = WriteResult::Status::Failed, .error = reply.error};
            }
            return {.status = WriteResult::Status::Unavailable,
                    .error = reply.error + " (the change may or may not be stored: read it back)"};
        }
        std::string error;
        auto txn = etcd::parseTxn(reply.body, error);
        if (!txn) return {.status = WriteResult::Status::Failed, .error = error};
        if (!txn->succeeded) {
            return {.status = WriteResult::Status::Conflict,
                    .error =
                        "changed by another writer since this node read it; read it again "
                        "and retry"};
        }
        return {};
    }

    static std::uint64_t committedRevision(const Reply& reply) {
        std::string error;
        auto txn = etcd::parseTxn(reply.body, error);
        return txn ? txn->revision : 0;
    }

    // A value as the Admin API would have stored it: a JSON object. Anything else is logged,
    // counted and left out.
    std::optional<Document> parseValue(const std::string& key, const std::string& text) {
        std::optional<Document> value;
        if (!common::nestsDeeperThan(text, common::kMaxDocumentDepth)) {
            Document parsed = Document::parse(text, nullptr, false);
            if (!parsed.is_discarded() && parsed.is_object()) value = std::move(parsed);
        }
        if (!value) {
            ++invalid_;
            spdlog::warn("etcd: {} does not hold a JSON object; left out", key);
        }
        return value;
    }

    std::optional<etcd::ObjectKey> objectKey(const std::string& key) const {
        auto parsed = etcd::parseKey(settings_.prefix, key);
        if (!parsed || !findResource(parsed->resource)) return std::nullopt;  // not ours
        return parsed;
    }

    void applyRange(etcd::RangeResult range) {
        Resources next;
        for (auto& kv : range.kvs) {
            auto key = objectKey(kv.key);
            if (!key) continue;
            auto value = parseValue(kv.key, kv.value);
            if (!value) continue;
            next[key->resource].emplace(key->id, StoredObject{.id = key->id,
                                                              .value = std::move(*value),
                                                              .created_index = kv.create_revision,
                                                              .modified_index = kv.mod_revision});
        }
        resources_ = std::move(next);
        deleted_.clear();
    }

    void applyEvents(const std::vector<etcd::WatchEvent>& events) {
        bool changed = false;
        for (const auto& event : events) {
            if (event.deleted) {
                changed = applyDelete(event.kv.key, event.kv.mod_revision) || changed;
                continue;
            }
            auto key = objectKey(event.kv.key);
            if (!key) continue;
            auto value = parseValue(event.kv.key, event.kv.value);
            if (!value) {  // the key no longer holds a usable object
                changed = applyDelete(event.kv.key, event.kv.mod_revision) || changed;
                continue;
            }
            changed = applyPut(key->resource, {.id = key->id,
                                               .value = std::move(*value),
                                               .created_index = event.kv.create_revision,
                                               .modified_index = event.kv.mod_revision}) ||
                      changed;
        }
        if (changed) notify();
    }

    // A change arrives twice (the write's answer and the watch) and possibly out of order with
    // other keys' changes: a key only moves forward in revisions.
    bool applyPut(const std::string& resource, StoredObject object) {
        std::string key = etcd::keyOf(settings_.prefix, resource, object.id);
        if (auto gone = deleted_.find(key);
            gone != deleted_.end() && gone->second >= object.modified_index) {
            return false;
        }
        auto& objects = resources_[resource];
        auto it = objects.find(object.id);
        if (it != objects.end() && it->second.modified_index >= object.modified_index) return false;
        std::string id = object.id;
        objects.insert_or_assign(std::move(id), std::move(object));
        return true;
    }

    bool applyDelete(const std::string& key, std::uint64_t revision) {
        auto& gone = deleted_[key];
        gone = std::max(gone, revision);
        auto parsed = objectKey(key);
        if (!parsed) return false;
        auto found = resources_.find(parsed->resource);
        if (found == resources_.end()) return false;
        auto it = found->second.find(parsed->id);
        if (it == found->second.end() || it->second.modified_index >= revision) return false;
        found->second.erase(it);
        return true;
    }

    void notify() {
        if (watcher_) watcher_("", "");
    }

    std::size_t count() const {
        std::size_t total = 0;
        for (const auto& [name, objects] : resources_)
            total += objects.size();
        return total;
    }

    EtcdConfig settings_;
    PostFunction post_;
    net::io_context io_{1};
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work_{
        io_.get_executor()};
    etcd::EtcdClient client_;
    std::thread thread_;
    // The etcd thread's.
    bool watching_ = false;
    bool announced_down_ = false;
    // Shared.
    std::atomic<bool> up_{false};
    std::atomic<std::uint64_t> invalid_{0};
    mutable std::mutex reason_mutex_;
    std::string down_reason_ = "not connected yet";
    // The control thread's.
    Resources resources_;
    std::map<std::string, std::uint64_t> deleted_;  // key -> revision of its last delete
    std::function<void(std::string_view, std::string_view)> watcher_;
};

}  // namespace

std::unique_ptr<Store> makeEtcdStore(const EtcdConfig& settings, PostFunction post) {
    return std::make_unique<EtcdStore>(settings, std::move(post));
}

}  // namespace aiproxy::config
