#pragma once
// MemoryStore: a config::Store that holds objects in memory only. The admin fuzzer drives the
// Admin API against it, which also shows the Store interface stands without the file store.
// fail_next_write makes the next put() or remove() throw StoreError with nothing changed, as the
// interface promises for a write that could not be made durable.

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "aiproxy/config/store.hpp"

namespace aiproxy::fuzz {

class MemoryStore final : public config::Store {
public:
    void load() override {}

    const config::StoredObject* get(std::string_view resource, std::string_view id) const override;
    std::vector<const config::StoredObject*> list(std::string_view resource) const override;
    const config::StoredObject& put(std::string_view resource, std::string_view id,
                                    config::Document value) override;
    bool remove(std::string_view resource, std::string_view id) override;
    void watch(std::function<void(std::string_view, std::string_view)>) override {}

    bool fail_next_write = false;

private:
    void maybeFail();

    // In creation order, so list() needs no sorting; a list keeps get()'s pointers valid.
    using Objects = std::list<config::StoredObject>;
    Objects* objectsOf(std::string_view resource);
    const Objects* objectsOf(std::string_view resource) const;

    std::map<std::string, Objects, std::less<>> resources_;
    std::uint64_t index_ = 0;
};

}  // namespace aiproxy::fuzz
