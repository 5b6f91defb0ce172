// Starting a daemon as a child process with its output (stdout and stderr) appended to
// a log file, for the integration tests that read what the daemons say.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace rsdat::test_support {

// argv[0] is the program's path. Returns the child's pid.
inline pid_t spawn_logged(std::vector<std::string> argv, const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace rsdat::test_support
