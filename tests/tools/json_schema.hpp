// A validator for the subset of JSON Schema (draft 2020-12) that
// docs/bsnap-info.schema.json uses: type, enum, const, minimum, maximum,
// pattern, properties, required, additionalProperties (true or false),
// items, oneOf and local "$ref"s ("#/$defs/NAME"), plus the annotations
// ($schema, $id, $defs, $comment, title, description). Debian ships no C++
// JSON Schema validator. A schema using any other keyword is refused when
// loaded, so nothing in it is silently not checked.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bsnap::test {

class json_schema {
  public:
    // Throws std::invalid_argument naming the first unsupported keyword or
    // unresolvable "$ref".
    explicit json_schema(nlohmann::json schema);

    // Every problem as "<JSON pointer>: <what>" ("/devices/0/error: -2 is
    // below the minimum 0"); empty when the value is valid.
    std::vector<std::string> validate(const nlohmann::json& value) const;

  private:
    void check_schema(const nlohmann::json& schema, const std::string& where) const;
    const nlohmann::json& resolve(const std::string& ref) const;
    void check(const nlohmann::json& schema, const nlohmann::json& value, const std::string& where,
               std::vector<std::string>& problems) const;

    nlohmann::json root_;
};

// Reads and parses a schema file; throws std::runtime_error naming the path.
json_schema load_json_schema(const std::filesystem::path& path);

} // namespace bsnap::test
