#include "bsnap/device_info_json.hpp"

#include "bsnap/errors.hpp"

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <system_error>

namespace bsnap {

namespace {

using nlohmann::json;

class reader {
  public:
    reader(const json& object, const std::string& where) : object_(object), where_(where) {
        if (!object.is_object())
            throw format_error(where + ": expected an object, got " + object.type_name());
    }

    const json* find(const char* key) const {
        auto it = object_.find(key);
        return it == object_.end() || it->is_null() ? nullptr : &*it;
    }

    template <typename Unsigned>
    void read_unsigned(const char* key, Unsigned& out) const {
        const json* value = find(key);
        if (!value)
            return;
        bool negative = value->is_number_integer() && !value->is_number_unsigned() &&
                        value->get<std::int64_t>() < 0;
        if (!value->is_number_integer() || negative)
            fail(key, std::string("expected an unsigned integer, got ") + describe(*value));
        auto number = value->get<std::uint64_t>();
        if (number > std::numeric_limits<Unsigned>::max())
            fail(key, "value " + std::to_string(number) + " out of range");
        out = static_cast<Unsigned>(number);
    }

    void read_errno(const char* key, int& out) const {
        const json* value = find(key);
        if (!value)
            return;
        if (!value->is_number_integer())
            fail(key, std::string("expected an integer, got ") + describe(*value));
        if (value->is_number_unsigned() && value->get<std::uint64_t>() > INT32_MAX)
            fail(key, "value " + value->dump() + " out of range");
        auto number = value->get<std::int64_t>();
        if (number < -INT32_MAX || number > INT32_MAX)
            fail(key, "value " + value->dump() + " out of range");
        out = static_cast<int>(number < 0 ? -number : number);
    }

    void read_string(const char* key, std::string& out) const {
        const json* value = find(key);
        if (!value)
            return;
        if (!value->is_string())
            fail(key, std::string("expected a string, got ") + describe(*value));
        out = value->get<std::string>();
    }

    void read_bool(const char* key, bool& out) const {
        const json* value = find(key);
        if (!value)
            return;
        if (!value->is_boolean())
            fail(key, std::string("expected true or false, got ") + describe(*value));
        out = value->get<bool>();
    }

    void read_uuid(const char* key, uuid& out) const {
        std::string text;
        read_string(key, text);
        if (text.empty())
            return;
        auto parsed = parse_uuid(text);
        if (!parsed)
            fail(key, "not a UUID: '" + text + "'");
        out = *parsed;
    }

    [[noreturn]] void fail(const char* key, const std::string& problem) const {
        throw format_error(where_ + "." + key + ": " + problem);
    }

  private:
    static std::string describe(const json& value) {
        return std::string(value.type_name()) + " " + value.dump();
    }

    const json& object_;
    const std::string& where_;
};

} // namespace

void to_json(json& j, const device_info& info) {
    j = json{
        {"minor", info.minor},
        {"state", info.state},
        {"mode", to_string(decode_state(info.state).mode)},
        {"activity", to_string(decode_state(info.state).activity)},
        {"failed", decode_state(info.state).failed},
        {"state_name", describe_state(info.state)},
        {"error", info.error},
        {"error_name", errno_name(info.error)},
        {"error_text", errno_text(info.error)},
        {"bdev", info.bdev_path},
        {"cow", info.cow_path},
        {"cache_size", info.cache_size},
        {"falloc_size", info.falloc_size},
        {"cow_used_bytes", info.cow_used_bytes},
        {"cow_free_bytes", info.cow_free_bytes},
        {"cow_data_bytes", info.cow_data_bytes},
        {"seqid", info.seqid},
        {"uuid", format_uuid(info.uuid)},
        {"device_sectors", info.device_sectors},
        {"changed_blocks", info.changed_blocks},
        {"block_size", info.block_size},
        {"ignore_errors", info.ignore_errors},
    };
    if (info.cbt_bytes)
        j["cbt_bytes"] = *info.cbt_bytes;
}

device_info device_info_from_json(const json& j, const std::string& where) {
    reader in(j, where);
    device_info info;
    if (!in.find("minor"))
        in.fail("minor", "missing");
    in.read_unsigned("minor", info.minor);
    in.read_unsigned("state", info.state);
    in.read_errno("error", info.error);
    in.read_string("bdev", info.bdev_path);
    in.read_string("cow", info.cow_path);
    in.read_unsigned("cache_size", info.cache_size);
    in.read_unsigned("falloc_size", info.falloc_size);
    in.read_unsigned("cow_used_bytes", info.cow_used_bytes);
    in.read_unsigned("cow_free_bytes", info.cow_free_bytes);
    in.read_unsigned("cow_data_bytes", info.cow_data_bytes);
    in.read_unsigned("seqid", info.seqid);
    in.read_uuid("uuid", info.uuid);
    in.read_unsigned("device_sectors", info.device_sectors);
    in.read_unsigned("changed_blocks", info.changed_blocks);
    in.read_unsigned("block_size", info.block_size);
    in.read_bool("ignore_errors", info.ignore_errors);
    if (in.find("cbt_bytes")) {
        std::uint64_t bytes = 0;
        in.read_unsigned("cbt_bytes", bytes);
        info.cbt_bytes = bytes;
    }
    return info;
}

} // namespace bsnap
