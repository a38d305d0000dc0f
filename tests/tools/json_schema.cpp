#include "json_schema.hpp"

#include <fstream>
#include <regex>
#include <set>
#include <stdexcept>

namespace bsnap::test {

namespace {

using nlohmann::json;

const std::set<std::string> annotations = {"$schema",  "$id",   "$defs",
                                           "$comment", "title", "description"};
const std::set<std::string> keywords = {"type",       "enum",     "const",
                                        "minimum",    "maximum",  "pattern",
                                        "properties", "required", "additionalProperties",
                                        "items",      "oneOf",    "$ref"};

bool has_type(const json& value, const std::string& type) {
    if (type == "object")
        return value.is_object();
    if (type == "array")
        return value.is_array();
    if (type == "string")
        return value.is_string();
    if (type == "integer")
        return value.is_number_integer();
    if (type == "number")
        return value.is_number();
    if (type == "boolean")
        return value.is_boolean();
    if (type == "null")
        return value.is_null();
    throw std::invalid_argument("unknown type \"" + type + "\"");
}

// value < bound (less) or value > bound (!less), exact for 64-bit integers.
bool beyond(const json& value, const json& bound, bool less) {
    if (value.is_number_integer() && bound.is_number_integer()) {
        bool value_negative = !value.is_number_unsigned() && value.get<std::int64_t>() < 0;
        bool bound_negative = !bound.is_number_unsigned() && bound.get<std::int64_t>() < 0;
        if (value_negative != bound_negative)
            return less ? value_negative : bound_negative;
        if (value_negative) {
            auto v = value.get<std::int64_t>(), b = bound.get<std::int64_t>();
            return less ? v < b : v > b;
        }
        auto v = value.get<std::uint64_t>(), b = bound.get<std::uint64_t>();
        return less ? v < b : v > b;
    }
    auto v = value.get<double>(), b = bound.get<double>();
    return less ? v < b : v > b;
}

std::string escape_pointer(const std::string& key) {
    std::string out;
    for (char c : key)
        out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
    return out;
}

} // namespace

json_schema::json_schema(json schema) : root_(std::move(schema)) {
    check_schema(root_, "#");
}

void json_schema::check_schema(const json& schema, const std::string& where) const {
    if (schema.is_boolean())
        return;
    if (!schema.is_object())
        throw std::invalid_argument(where + ": a schema must be an object or a boolean");
    for (const auto& [key, value] : schema.items()) {
        if (annotations.count(key) == 0 && keywords.count(key) == 0)
            throw std::invalid_argument(where + ": unsupported keyword \"" + key + "\"");
    }
    if (auto defs = schema.find("$defs"); defs != schema.end())
        for (const auto& [name, sub] : defs->items())
            check_schema(sub, where + "/$defs/" + name);
    if (auto props = schema.find("properties"); props != schema.end())
        for (const auto& [name, sub] : props->items())
            check_schema(sub, where + "/properties/" + name);
    if (auto items = schema.find("items"); items != schema.end())
        check_schema(*items, where + "/items");
    if (auto one = schema.find("oneOf"); one != schema.end())
        for (std::size_t i = 0; i < one->size(); ++i)
            check_schema((*one)[i], where + "/oneOf/" + std::to_string(i));
    if (auto extra = schema.find("additionalProperties");
        extra != schema.end() && !extra->is_boolean())
        throw std::invalid_argument(where + ": additionalProperties must be true or false");
    if (auto ref = schema.find("$ref"); ref != schema.end())
        resolve(ref->get<std::string>());
    if (auto pattern = schema.find("pattern"); pattern != schema.end())
        std::regex(pattern->get<std::string>(), std::regex::ECMAScript);
}

const json& json_schema::resolve(const std::string& ref) const {
    const std::string prefix = "#/$defs/";
    if (ref.compare(0, prefix.size(), prefix) != 0)
        throw std::invalid_argument("unsupported $ref \"" + ref + "\" (only #/$defs/NAME)");
    auto defs = root_.find("$defs");
    if (defs == root_.end() || !defs->contains(ref.substr(prefix.size())))
        throw std::invalid_argument("$ref \"" + ref + "\" names nothing");
    return (*defs)[ref.substr(prefix.size())];
}

std::vector<std::string> json_schema::validate(const json& value) const {
    std::vector<std::string> problems;
    check(root_, value, "", problems);
    return problems;
}

void json_schema::check(const json& schema, const json& value, const std::string& where,
                        std::vector<std::string>& problems) const {
    const std::string at = where.empty() ? "/" : where;
    if (schema.is_boolean()) {
        if (!schema.get<bool>())
            problems.push_back(at + ": no value is allowed here");
        return;
    }
    if (auto ref = schema.find("$ref"); ref != schema.end())
        check(resolve(ref->get<std::string>()), value, where, problems);
    if (auto type = schema.find("type"); type != schema.end()) {
        bool ok = false;
        if (type->is_array()) {
            for (const auto& t : *type)
                ok = ok || has_type(value, t.get<std::string>());
        } else {
            ok = has_type(value, type->get<std::string>());
        }
        if (!ok) {
            problems.push_back(at + ": " + value.dump() + " is not of type " + type->dump());
            return; // the other keywords would only repeat it
        }
    }
    if (auto c = schema.find("const"); c != schema.end() && value != *c)
        problems.push_back(at + ": " + value.dump() + " is not " + c->dump());
    if (auto e = schema.find("enum"); e != schema.end()) {
        bool found = false;
        for (const auto& candidate : *e)
            found = found || candidate == value;
        if (!found)
            problems.push_back(at + ": " + value.dump() + " is not one of " + e->dump());
    }
    if (value.is_number()) {
        if (auto min = schema.find("minimum"); min != schema.end() && beyond(value, *min, true))
            problems.push_back(at + ": " + value.dump() + " is below the minimum " + min->dump());
        if (auto max = schema.find("maximum"); max != schema.end() && beyond(value, *max, false))
            problems.push_back(at + ": " + value.dump() + " is above the maximum " + max->dump());
    }
    if (auto pattern = schema.find("pattern"); pattern != schema.end() && value.is_string()) {
        std::regex re(pattern->get<std::string>(), std::regex::ECMAScript);
        if (!std::regex_search(value.get<std::string>(), re))
            problems.push_back(at + ": " + value.dump() + " does not match " + pattern->dump());
    }
    if (value.is_object()) {
        if (auto required = schema.find("required"); required != schema.end())
            for (const auto& key : *required)
                if (!value.contains(key.get<std::string>()))
                    problems.push_back(at + ": \"" + key.get<std::string>() + "\" is missing");
        auto props = schema.find("properties");
        auto extra = schema.find("additionalProperties");
        for (const auto& [key, sub] : value.items()) {
            std::string inner = where + "/" + escape_pointer(key);
            if (props != schema.end() && props->contains(key))
                check((*props)[key], sub, inner, problems);
            else if (extra != schema.end() && !extra->get<bool>())
                problems.push_back(inner + ": not in the schema");
        }
    }
    if (value.is_array())
        if (auto items = schema.find("items"); items != schema.end())
            for (std::size_t i = 0; i < value.size(); ++i)
                check(*items, value[i], where + "/" + std::to_string(i), problems);
    if (auto one = schema.find("oneOf"); one != schema.end()) {
        std::size_t matches = 0;
        std::string closest;
        std::size_t fewest = SIZE_MAX;
        for (const auto& alternative : *one) {
            std::vector<std::string> sub;
            check(alternative, value, where, sub);
            if (sub.empty())
                ++matches;
            else if (sub.size() < fewest) {
                fewest = sub.size();
                closest = sub.front();
            }
        }
        if (matches == 0)
            problems.push_back(at + ": matches none of oneOf; closest: " + closest);
        else if (matches > 1)
            problems.push_back(at + ": matches " + std::to_string(matches) +
                               " alternatives of oneOf, not one");
    }
}

json_schema load_json_schema(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in)
        throw std::runtime_error("cannot open " + path.string());
    try {
        return json_schema(json::parse(in));
    } catch (const std::exception& e) {
        throw std::runtime_error(path.string() + ": " + e.what());
    }
}

} // namespace bsnap::test
