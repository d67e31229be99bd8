// Linked with one layer's whole archive and the layers below it: that it
// links at all is the check (an undefined reference to a layer above fails
// the build). Running it only proves the binary is whole.
int main() { return 0; }
