#include "agent/install_hook.h"

#include <fcntl.h>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <fstream>

#include "agent/process.h"
#include "common/file.h"

namespace vigil::agent {

class InstallHookRun : public std::enable_shared_from_this<InstallHookRun> {
 public:
  InstallHookRun(asio::io_context& io_context, InstallHookSpec spec,
                 std::function<void(Status)> done)
      : io_context_(io_context), spec_(std::move(spec)), done_(std::move(done)),
        deadline_(io_context) {}

  void Begin() {
    if (spec_.argv.empty()) {
      Finish(Ok());
      return;
    }
    FileDescriptor output(::open(spec_.output_path.c_str(),
                                 O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (output.get() < 0) {
      Finish(Fail(ErrorCode::kIOError, Describe() + " could not start: cannot open " +
                                           spec_.output_path.string()));
      return;
    }
    std::weak_ptr<InstallHookRun> weak = weak_from_this();
    auto child = ChildProcess::Spawn(
        io_context_,
        {.argv = spec_.argv,
         .directory = spec_.directory,
         .output_fd = output.get(),
         .environment = spec_.environment},
        [weak](ExitStatus exit) {
          auto self = weak.lock();
          if (!self) return;
          if (exit.success()) {
            self->Finish(Ok());
          } else {
            self->Finish(Fail(ErrorCode::kUnavailable, self->Describe() + " " + exit.ToString() +
                                                           self->Tail()));
          }
        });
    if (!child) {
      Finish(Fail(ErrorCode::kUnavailable,
                  Describe() + " could not start: " + child.error().message()));
      return;
    }
    child_ = std::move(*child);
    deadline_.expires_after(spec_.timeout);
    deadline_.async_wait([weak](std::error_code error) {
      auto self = weak.lock();
      if (error || !self) return;
      self->child_.reset();  // kills the group and reaps the hook
      self->Finish(Fail(ErrorCode::kTimeout,
                        self->Describe() + " did not finish within " +
                            std::to_string(self->spec_.timeout.count()) + " ms" + self->Tail()));
    });
  }

  ~InstallHookRun() { done_ = nullptr; }  // the child's destructor kills a hook still running

 private:
  std::string Describe() const { return spec_.name + " hook " + spec_.argv[0]; }

  std::string Tail() const {
    std::string tail = ReadOutputTail(spec_.output_path, limits::kAgentHookOutputTailBytes);
    return tail.empty() ? "" : ": " + tail;
  }

  void Finish(Status status) {
    if (!done_) return;
    deadline_.cancel();
    auto done = std::move(done_);
    done_ = nullptr;
    // Never call back from inside Begin: the caller may not hold the handle yet.
    asio::post(io_context_, [done = std::move(done), status = std::move(status)]() mutable {
      done(std::move(status));
    });
  }

  asio::io_context& io_context_;
  InstallHookSpec spec_;
  std::function<void(Status)> done_;
  asio::steady_timer deadline_;
  std::unique_ptr<ChildProcess> child_;
};

InstallHookHandle RunInstallHook(asio::io_context& io_context, InstallHookSpec spec,
                                 std::function<void(Status)> done) {
  auto run = std::make_shared<InstallHookRun>(io_context, std::move(spec), std::move(done));
  run->Begin();
  return run;
}

std::string ReadOutputTail(const std::filesystem::path& path, size_t bytes_max) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) return "";
  std::streamoff size = file.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(bytes_max)
                             ? size - static_cast<std::streamoff>(bytes_max)
                             : 0;
  file.seekg(start);
  std::string raw(static_cast<size_t>(size - start), '\0');
  file.read(raw.data(), static_cast<std::streamsize>(raw.size()));
  raw.resize(static_cast<size_t>(file.gcount()));
  std::string tail;
  for (char c : raw) {
    bool printable = c >= 0x21 && c <= 0x7e;
    if (printable) {
      tail.push_back(c);
    } else if (!tail.empty() && tail.back() != ' ') {
      tail.push_back(' ');
    }
  }
  while (!tail.empty() && tail.back() == ' ') tail.pop_back();
  return tail;
}

}  // namespace vigil::agent
