// bsnap-json-check SCHEMA FILE: validates FILE (a JSON document, "-" for
// stdin) against SCHEMA (docs/bsnap-info.schema.json). Prints every problem
// and exits 1 if there is one; 2 if either file cannot be read. For the
// guest tests, which check the module's real /proc/bsnap-info with it.
#include "json_schema.hpp"

#include <fstream>
#include <iostream>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: bsnap-json-check SCHEMA FILE\n";
        return 2;
    }
    try {
        bsnap::test::json_schema schema = bsnap::test::load_json_schema(argv[1]);
        nlohmann::json value;
        if (std::string(argv[2]) == "-") {
            value = nlohmann::json::parse(std::cin);
        } else {
            std::ifstream in(argv[2]);
            if (!in) {
                std::cerr << "bsnap-json-check: cannot open " << argv[2] << "\n";
                return 2;
            }
            value = nlohmann::json::parse(in);
        }
        std::vector<std::string> problems = schema.validate(value);
        for (const std::string& p : problems)
            std::cout << argv[2] << ": " << p << "\n";
        return problems.empty() ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "bsnap-json-check: " << e.what() << "\n";
        return 2;
    }
}
