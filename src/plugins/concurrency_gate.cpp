#include "aiproxy/plugins/concurrency_gate.hpp"

#include <algorithm>
#include <vector>

namespace aiproxy::plugins {

ConcurrencyGate::Entry ConcurrencyGate::enter(int limit, int queue, std::function<void()> grant,
                                              std::uint64_t& ticket) {
    std::vector<std::function<void()>> grants;
    Entry entry = Entry::Full;
    {
        std::lock_guard lock{mutex_};
        limit_ = std::max(limit, 1);
        admitWaiters(grants);  // a raised limit serves those already waiting first
        if (active_ < limit_ && waiters_.empty()) {
            ++active_;
            entry = Entry::Admitted;
        } else if (waiters_.size() < static_cast<std::size_t>(std::max(queue, 0))) {
            ticket = ++next_ticket_;
            waiters_.push_back({ticket, std::move(grant)});
            entry = Entry::Queued;
        }
    }
    runGrants(grants);
    return entry;
}

void ConcurrencyGate::admitWaiters(std::vector<std::function<void()>>& grants) {
    while (active_ < limit_ && !waiters_.empty()) {
        ++active_;
        grants.push_back(std::move(waiters_.front().grant));
        waiters_.pop_front();
    }
}

void ConcurrencyGate::runGrants(std::vector<std::function<void()>>& grants) {
    for (auto& grant : grants) {
        if (grant) grant();
    }
}

bool ConcurrencyGate::withdraw(std::uint64_t ticket) {
    std::lock_guard lock{mutex_};
    auto found = std::find_if(waiters_.begin(), waiters_.end(),
                              [ticket](const Waiter& waiter) { return waiter.ticket == ticket; });
    if (found == waiters_.end()) return false;
    waiters_.erase(found);
    return true;
}

void ConcurrencyGate::leave() {
    std::vector<std::function<void()>> grants;
    {
        std::lock_guard lock{mutex_};
        --active_;
        // A lowered limit admits no one until the active count is under it.
        admitWaiters(grants);
    }
    runGrants(grants);
}

int ConcurrencyGate::active() const {
    std::lock_guard lock{mutex_};
    return active_;
}

std::size_t ConcurrencyGate::waiting() const {
    std::lock_guard lock{mutex_};
    return waiters_.size();
}

}  // namespace aiproxy::plugins
