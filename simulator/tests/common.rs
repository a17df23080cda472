//! Shared helpers for the simulator's integration tests.
#![allow(dead_code)]

use attn_simulator::{Config, Simulation};

/// Runs `config` to the end and returns the simulation.
pub fn run(config: Config) -> Simulation {
    let mut simulation = Simulation::new(config).expect("valid config");
    while !simulation.finished() {
        simulation.step().expect("round");
    }
    simulation
}

/// A small market exercising every agent kind.
pub fn busy_market() -> Config {
    Config::from_toml(
        r#"
seed = 11
rounds = 4
[auction]
mechanism = "gsp"
slots = 2
reserve = 0.01
[users]
count = 2500
[advertisers]
count = 12
value_model = "per-conversion"
value = { dist = "lognormal", mu = 4.5, sigma = 0.4 }
strategy = "learning"
budget = 30
[sybil]
farms = 2
personas_per_farm = 150
attack_edges = 1
[bundlers]
count = 2
clients = 3
margin = 0.15
"#,
    )
    .expect("valid")
}
