// Reading the events file an akt-node writes (--events FILE; the line
// formats are in tools/akt_node.cc): shared by the process tests.
#pragma once

#include <fstream>
#include <string>
#include <vector>

namespace akt::test {

inline std::vector<std::string> EventLines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Lines of `path` starting with `prefix`.
inline int EventCount(const std::string& path, const std::string& prefix) {
  int n = 0;
  for (const std::string& l : EventLines(path)) n += l.rfind(prefix, 0) == 0;
  return n;
}

// "endpoint#incarnation" of that start ("" until it wrote its first line).
inline std::string EventSelf(const std::string& path) {
  for (const std::string& l : EventLines(path)) {
    if (l.rfind("self ", 0) == 0) return l.substr(5);
  }
  return "";
}

}  // namespace akt::test
