// Runs the fuzz target over every file in the given directories and over
// deterministic mutations of them, without libFuzzer: the test suite uses it
// under the project's own compiler and sanitizers.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    for (const auto& e : std::filesystem::directory_iterator(argv[i])) {
      std::ifstream f(e.path(), std::ios::binary);
      inputs.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "no corpus files\n");
    return 1;
  }
  uint64_t x = 88172645463325252ull;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  std::size_t runs = 0;
  for (const std::string& in : inputs) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(in.data()), in.size());
    ++runs;
    for (int m = 0; m < 2000; ++m) {
      std::string s = in;
      int edits = 1 + static_cast<int>(next() % 4);
      for (int k = 0; k < edits && !s.empty(); ++k) {
        std::size_t at = next() % s.size();
        switch (next() % 4) {
          case 0: s[at] = static_cast<char>(next()); break;
          case 1: s.erase(at, 1 + next() % 8); break;
          case 2: s.insert(at, 1 + next() % 8, static_cast<char>(next())); break;
          default: s.resize(at); break;
        }
      }
      if (!s.empty() && (m & 7) == 0) s[0] = static_cast<char>(next());  // other decoders too
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
      ++runs;
    }
  }
  std::printf("replayed %zu inputs without a fault\n", runs);
  return 0;
}
