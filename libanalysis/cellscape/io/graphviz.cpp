#include "cellscape/io/graphviz.hpp"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "cellscape/io/output_lock.hpp"

extern char** environ;

namespace cellscape {

void render_dot(const std::string& dot_text, const std::filesystem::path& output) {
    std::string format = output.extension().string();
    if (format != ".svg" && format != ".png" && format != ".pdf")
        throw Error(fmt::format("cannot render to '{}': the file name must end in .svg, .png or .pdf",
                                output.string()));
    format = "-T" + format.substr(1);
    if (output.has_parent_path() && !std::filesystem::is_directory(output.parent_path()))
        throw Error(fmt::format("cannot render to '{}': the directory {} does not exist", output.string(),
                                output.parent_path().string()));
    const std::filesystem::path temporary = private_partial_path(output);  // two processes may draw one diagram
    const std::string out_flag = "-o" + temporary.string();

    // `dot` reads the graph from a socket rather than a pipe: a `dot` that dies
    // early then makes send() fail with EPIPE (MSG_NOSIGNAL) instead of raising
    // SIGPIPE, which would kill the process unless the library changed the
    // process's signal disposition (the host program's choice, not ours).
    int pipe_fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pipe_fds) != 0)
        throw Error(fmt::format("cannot start Graphviz: socketpair failed: {}", std::strerror(errno)));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[0], STDIN_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
    std::vector<char*> argv = {const_cast<char*>("dot"), format.data(), const_cast<char*>(out_flag.c_str()), nullptr};
    pid_t pid = 0;
    const int spawned = posix_spawnp(&pid, "dot", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(pipe_fds[0]);
    if (spawned != 0) {
        close(pipe_fds[1]);
        if (spawned == ENOENT) throw GraphvizMissing("Graphviz's `dot` is not installed: apt-get install graphviz");
        throw Error(fmt::format("cannot start Graphviz's `dot`: {}", std::strerror(spawned)));
    }
    // A `dot` that dies early ends the writing (EPIPE); its exit status says what went wrong.
    std::size_t written = 0;
    while (written < dot_text.size()) {
        const ssize_t n = send(pipe_fds[1], dot_text.data() + written, dot_text.size() - written, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        written += static_cast<std::size_t>(n);
    }
    close(pipe_fds[1]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::filesystem::remove(temporary);
        throw Error(fmt::format("Graphviz's `dot` failed to render {} (see its message above)", output.string()));
    }
    std::filesystem::rename(temporary, output);
}

}  // namespace cellscape
