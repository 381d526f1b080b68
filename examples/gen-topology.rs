//! Writes a large synthetic topology to stdout, for benchmarks and load tests.
//!
//! `cargo run --release --example gen-topology -- 10000 [--seed N] > big.yaml`
//! (10,000 services, 3 regions, ~30,000 `depends_on` edges, 10,000 route53 dials: ~4 MB).

include!("../benches/support/gen.rs");

fn main() {
    let mut services = None;
    let mut seed = 1u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seed" => match args.next().and_then(|s| s.parse().ok()) {
                Some(s) => seed = s,
                None => usage("--seed needs an unsigned integer"),
            },
            "-h" | "--help" => {
                println!("usage: gen-topology SERVICES [--seed N] > topology.yaml");
                return;
            }
            n => match n.parse::<usize>() {
                Ok(n) if services.is_none() => services = Some(n),
                _ => usage(&format!("unexpected argument `{n}`")),
            },
        }
    }
    let Some(services) = services else {
        usage("the number of services is required")
    };
    print!("{}", generate_topology(services, seed));
}

fn usage(problem: &str) -> ! {
    eprintln!("error: {problem}\nusage: gen-topology SERVICES [--seed N] > topology.yaml");
    std::process::exit(2);
}
