// jemalloc instead of glibc's malloc: allocation was a third of the gateway's CPU at saturation, and
// jemalloc carries more messages per core at the same memory per connection (BENCHMARKS.md, gateway
// runs E to G).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    joule_cli::main()
}
