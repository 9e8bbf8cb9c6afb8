// jetbus: entry point (placeholder until the broker lands).
int main() { return 0; }
