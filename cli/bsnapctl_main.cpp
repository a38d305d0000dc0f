// bsnapctl: parse the command line, run the command, report failure as one
// line on stderr and an exit status (see exit_status.hpp).
#include "command_line.hpp"
#include "execute.hpp"
#include "exit_status.hpp"

#include <bsnap/errors.hpp>
#include <cerrno>
#include <iostream>

int main(int argc, char** argv) {
    using namespace bsnap::ctl;
    std::string_view name;
    try {
        command cmd = parse_command_line(std::vector<std::string>(argv + 1, argv + argc));
        name = command_name(cmd);
        execute(cmd, std::cout);
        errno = 0;
        std::cout.flush();
        if (!std::cout)
            throw bsnap::errno_error(errno != 0 ? errno : EIO, "write to standard output");
        return 0;
    } catch (...) {
        failure f = describe_failure(name, std::current_exception());
        std::cerr << f.message << std::endl;
        return f.status;
    }
}
