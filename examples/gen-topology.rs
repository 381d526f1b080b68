//! Writes a large synthetic topology to stdout, for benchmarks and load tests.
//!
//! `cargo run --release --example gen-topology -- 10000 [--seed N] [--depth D] > big.yaml`
//! (10,000 services, 3 regions, ~30,000 `depends_on` edges, 10,000 route53 dials: ~4 MB).
//! `--depth D` lays the dependencies out in D layers: the longest chain has D services.

include!("../benches/support/gen.rs");

fn main() {
    let mut services = None;
    let mut seed = 1u64;
    let mut depth = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seed" => match args.next().and_then(|s| s.parse().ok()) {
                Some(s) => seed = s,
                None => usage("--seed needs an unsigned integer"),
            },
            "--depth" => match args.next().and_then(|s| s.parse().ok()) {
                Some(d) if d > 0 => depth = Some(d),
                _ => usage("--depth needs a positive integer"),
            },
            "-h" | "--help" => {
                println!("usage: gen-topology SERVICES [--seed N] [--depth D] > topology.yaml");
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
    match depth {
        None => print!("{}", generate_topology(services, seed)),
        Some(depth) => print!("{}", generate_layered_topology(services, depth, seed)),
    }
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "error: {problem}\nusage: gen-topology SERVICES [--seed N] [--depth D] > topology.yaml"
    );
    std::process::exit(2);
}
