//! `ringway demo`: the front-proxy story in one process. Demo services answer
//! like the sandbox's Flask services; the proxy runs `config/front-proxy.yaml`.

pub mod service;

/// The demo's proxy config, the same file as `config/front-proxy.yaml`.
pub const FRONT_PROXY_YAML: &str = include_str!("../../config/front-proxy.yaml");

/// The demo services: (service number, instance name, address).
pub const SERVICES: &[(u8, &str, &str)] = &[
    (1, "service1-a", "127.0.0.2:8080"),
    (1, "service1-b", "127.0.0.3:8080"),
    (1, "service1-c", "127.0.0.4:8080"),
    (2, "service2-a", "127.0.0.5:8080"),
];
