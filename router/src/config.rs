//! The router's flags and environment (clap), with defaults that work for the local devnet.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use ao_runtime::ServerArgs;
use ao_runtime::http::{HttpLimitArgs, HttpLimits};
use clap::Parser;

use crate::members::{DEFAULT_GRPC_PORT_OFFSET, MemberError, MemberSpec, parse_dns};

/// Data directory (only `--verify-rate` writes there: the mismatching answers).
pub const DEFAULT_DATA_DIR: &str = ".ao-data/router";
/// HTTP address: the CU's port plus 100, so a router and a CU of the devnet both keep their
/// usual ports on one machine.
pub const DEFAULT_HTTP_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6463));
/// gRPC address: the HTTP port plus one, as every unit's pair.
pub const DEFAULT_GRPC_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6464));
/// Largest request body forwarded (a dry-run's message): the CU's own limit, so the router
/// refuses nothing a CU would take.
pub const DEFAULT_MAX_BODY: usize = 10 * 1024 * 1024;
/// Share of `/result` answers compared with a second CU: none by default, since each sample
/// costs a second evaluation on a CU that may not hold the process warm.
pub const DEFAULT_VERIFY_RATE: f64 = 0.0;

/// `router`: one address for a pool of CUs.
///
/// Serves the CU's AO HTTP API and Compute gRPC service, and forwards each request to the CU that
/// owns its process (rendezvous hashing over the healthy members), retrying once on the next
/// choice when the owner fails before answering.
#[derive(Debug, Parser)]
#[command(name = "router", version)]
pub struct RouterArgs {
    /// Data directory, listen addresses and log format, shared by every ao-rs server.
    #[command(flatten)]
    pub server: ServerArgs,

    /// A CU of the pool: `http://HOST:PORT[;grpc=URL][;weight=N]` (repeat, or comma-separate in
    /// the environment). gRPC defaults to the HTTP port plus `--cu-grpc-port-offset`; weight to 1.
    #[arg(
        long = "cu",
        value_name = "URL",
        env = "AO_ROUTER_CUS",
        value_delimiter = ','
    )]
    pub cus: Vec<String>,

    /// Members from DNS: every A/AAAA record of NAME (a Kubernetes headless Service) is a CU at
    /// PORT, re-resolved every few seconds.
    #[arg(long, value_name = "NAME:PORT", env = "AO_ROUTER_CU_DNS")]
    pub cu_dns: Option<String>,

    /// Stake of a CU, by the wallet address its `GET /` reports: `ADDRESS=AMOUNT` (repeat, or
    /// comma-separate in the environment), counted for `min-stake` beside the registry's.
    #[arg(
        long = "stake",
        value_name = "ADDRESS=AMOUNT",
        env = "AO_ROUTER_STAKES",
        value_delimiter = ',',
        value_parser = parse_stake,
        allow_hyphen_values = true
    )]
    pub stakes: Vec<(String, crate::min_stake::Amount)>,

    /// The unit-registry process (its id) whose `Units` query, by dry-run on the pool, gives
    /// the CUs' stakes for `min-stake` requests.
    #[arg(
        long,
        value_name = "PID",
        env = "AO_ROUTER_REGISTRY",
        allow_hyphen_values = true
    )]
    pub registry: Option<String>,

    /// A CU of the dry-run pool (same syntax as `--cu`): dry-runs go there, never to the
    /// evaluation pool, so a flood of dry-runs cannot stall evaluation. None: dry-runs go to the
    /// evaluation pool.
    #[arg(
        long = "dry-run-cu",
        value_name = "URL",
        env = "AO_ROUTER_DRY_RUN_CUS",
        value_delimiter = ','
    )]
    pub dry_run_cus: Vec<String>,

    /// The gRPC port of a member whose `grpc=` is not given, as an offset from its HTTP port.
    #[arg(long, value_name = "N", env = "AO_ROUTER_CU_GRPC_PORT_OFFSET", default_value_t = DEFAULT_GRPC_PORT_OFFSET)]
    pub cu_grpc_port_offset: u16,

    /// Share (0 to 1) of `/result` answers asked again of a second CU and compared; mismatches
    /// are logged, counted and kept under `<data-dir>/mismatches/`.
    #[arg(long, value_name = "RATE", env = "AO_ROUTER_VERIFY_RATE", default_value_t = DEFAULT_VERIFY_RATE,
          value_parser = parse_rate)]
    pub verify_rate: f64,

    /// Largest request body forwarded, in bytes (larger answers 413).
    #[arg(long, value_name = "BYTES", env = "AO_ROUTER_MAX_BODY", default_value_t = DEFAULT_MAX_BODY)]
    pub max_body: usize,

    /// Limits of the HTTP API, shared by every ao-rs server.
    #[command(flatten)]
    pub limits: HttpLimitArgs,
}

fn parse_stake(s: &str) -> Result<(String, crate::min_stake::Amount), String> {
    let (address, amount) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected ADDRESS=AMOUNT"))?;
    if address.trim().is_empty() {
        return Err(format!("`{s}`: the address is empty"));
    }
    Ok((
        address.trim().to_string(),
        crate::min_stake::parse_amount(amount)?,
    ))
}

fn parse_rate(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|r| (0.0..=1.0).contains(r))
        .ok_or_else(|| format!("`{s}` is not a rate between 0 and 1"))
}

/// The router's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where mismatches are kept.
    pub data_dir: PathBuf,
    /// HTTP listener.
    pub http_addr: SocketAddr,
    /// gRPC listener.
    pub grpc_addr: SocketAddr,
    /// Members from the list.
    pub members: Vec<MemberSpec>,
    /// Members from DNS: name and port.
    pub dns: Option<(String, u16)>,
    /// The dry-run pool (empty: none).
    pub dry_run_members: Vec<MemberSpec>,
    /// gRPC port offset of DNS members.
    pub grpc_port_offset: u16,
    /// `--verify-rate`.
    pub verify_rate: f64,
    /// HTTP limits.
    pub http_limits: HttpLimits,
    /// `--shutdown-grace`.
    pub shutdown_grace: Duration,
    /// `--stake`: stake by CU address, beside the registry's.
    pub stakes: std::collections::HashMap<String, crate::min_stake::Amount>,
    /// `--registry`: the unit-registry process whose `Units` give stakes.
    pub registry: Option<String>,
}

impl RouterArgs {
    /// Resolve the flags.
    pub fn into_config(self) -> Result<Config, MemberError> {
        let offset = self.cu_grpc_port_offset;
        let parse = |list: &[String]| {
            list.iter()
                .filter(|s| !s.trim().is_empty())
                .map(|s| MemberSpec::parse(s.trim(), offset))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Config {
            data_dir: self.server.data_dir_or(DEFAULT_DATA_DIR),
            http_addr: self.server.http_addr_or(DEFAULT_HTTP_ADDR),
            grpc_addr: self.server.grpc_addr_or(DEFAULT_GRPC_ADDR),
            members: parse(&self.cus)?,
            dns: self.cu_dns.as_deref().map(parse_dns).transpose()?,
            dry_run_members: parse(&self.dry_run_cus)?,
            grpc_port_offset: offset,
            verify_rate: self.verify_rate,
            http_limits: self.limits.limits(self.max_body),
            shutdown_grace: self.server.shutdown_grace,
            stakes: self.stakes.into_iter().collect(),
            registry: self.registry.filter(|r| !r.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_make_a_config() {
        let args = RouterArgs::try_parse_from([
            "router",
            "--cu",
            "http://127.0.0.1:7000",
            "--cu",
            "http://127.0.0.1:7010;weight=2",
            "--dry-run-cu",
            "http://127.0.0.1:7020",
            "--verify-rate",
            "0.1",
        ])
        .unwrap();
        let c = args.into_config().unwrap();
        assert_eq!(c.members.len(), 2);
        assert_eq!(c.members[1].weight, 2.0);
        assert_eq!(c.dry_run_members[0].grpc, "http://127.0.0.1:7021");
        assert_eq!(c.verify_rate, 0.1);
        assert!(RouterArgs::try_parse_from(["router", "--verify-rate", "2"]).is_err());
    }
}
