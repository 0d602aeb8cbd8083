//! Workspace networks beyond the engine's default address pools. The engine's defaults hold
//! about 30 bridge networks; past that, creating one fails with "could not find an available,
//! non-overlapping IPv4 address pool". hearth then carves small subnets (a /28 holds a solo
//! workspace's two services with room to spare) out of its own pool, trying the next one
//! whenever the engine reports an overlap.

use std::net::Ipv4Addr;

use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use bollard::Docker;

use crate::driver::engine::map_err;
use crate::error::HearthError;

/// How many subnets of the pool one creation tries before giving up.
const ATTEMPTS: usize = 64;

/// An IPv4 pool carved into equal subnets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubnetPool {
    base: u32,
    pool_prefix: u8,
    subnet_prefix: u8,
}

impl SubnetPool {
    /// Parses `A.B.C.D/N` and the prefix of each subnet carved from it.
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn parse(cidr: &str, subnet_prefix: u8) -> Result<SubnetPool, String> {
        let (addr, len) = cidr
            .split_once('/')
            .ok_or_else(|| format!("subnet pool {cidr:?} is not A.B.C.D/N"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("subnet pool {cidr:?} has no IPv4 address"))?;
        let pool_prefix: u8 = len
            .parse()
            .ok()
            .filter(|n| *n <= 32)
            .ok_or_else(|| format!("subnet pool {cidr:?} has a bad prefix length"))?;
        if !(pool_prefix..=29).contains(&subnet_prefix) {
            return Err(format!(
                "subnet prefix /{subnet_prefix} must lie between the pool's /{pool_prefix} and /29"
            ));
        }
        let mask = u32::MAX
            .checked_shl(32 - u32::from(pool_prefix))
            .unwrap_or(0);
        Ok(SubnetPool {
            base: u32::from(addr) & mask,
            pool_prefix,
            subnet_prefix,
        })
    }

    /// How many subnets the pool holds.
    pub fn len(&self) -> usize {
        1usize << (self.subnet_prefix - self.pool_prefix)
    }

    /// Whether the pool holds no subnet (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th subnet, as `A.B.C.D/N` (wrapping around the pool).
    pub fn subnet(&self, i: usize) -> String {
        let size = 1u64 << (32 - u32::from(self.subnet_prefix));
        let offset = (i % self.len()) as u64 * size;
        let addr = Ipv4Addr::from(self.base.wrapping_add(u32::try_from(offset).unwrap_or(0)));
        format!("{addr}/{}", self.subnet_prefix)
    }
}

impl SubnetPool {
    /// Whether the subnet `cidr` (`A.B.C.D/N`) lies inside the pool (for `hearth doctor`'s
    /// count of what is left).
    pub fn contains(&self, cidr: &str) -> bool {
        let Some(addr) = cidr
            .split('/')
            .next()
            .and_then(|a| a.parse::<Ipv4Addr>().ok())
        else {
            return false;
        };
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.pool_prefix))
            .unwrap_or(0);
        u32::from(addr) & mask == self.base
    }
}

impl std::fmt::Display for SubnetPool {
    /// `10.213.0.0/16 in /28s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} in /{}s",
            Ipv4Addr::from(self.base),
            self.pool_prefix,
            self.subnet_prefix
        )
    }
}

impl Default for SubnetPool {
    /// `10.213.0.0/16` in /28s: 4096 workspaces.
    fn default() -> Self {
        SubnetPool {
            base: u32::from(Ipv4Addr::new(10, 213, 0, 0)),
            pool_prefix: 16,
            subnet_prefix: 28,
        }
    }
}

/// Whether the engine refused a network for want of a default address pool.
pub(crate) fn pools_exhausted(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { message, .. }
        if message.contains("non-overlapping IPv4 address pool"))
}

fn overlaps(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { message, .. }
        if message.contains("overlaps"))
}

/// Creates `request` in a subnet of `pool`, starting at a place derived from `seed` so that
/// concurrent creations rarely race for the same subnet.
///
/// # Errors
/// A driver failure once `ATTEMPTS` subnets overlapped, or the engine's other errors.
pub(crate) async fn create_in_pool(
    docker: &Docker,
    request: NetworkCreateRequest,
    pool: &SubnetPool,
    seed: u64,
) -> Result<String, HearthError> {
    let start = usize::try_from(seed % pool.len() as u64).unwrap_or(0);
    for i in 0..ATTEMPTS.min(pool.len()) {
        let subnet = pool.subnet(start + i);
        let mut req = request.clone();
        req.ipam = Some(Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.clone()),
                ..Default::default()
            }]),
            ..Default::default()
        });
        match docker.create_network(req).await {
            Ok(created) => {
                tracing::debug!(network = %request.name, %subnet, "network created in hearth's subnet pool");
                return Ok(created.id);
            }
            Err(e) if overlaps(&e) => {}
            Err(e) => {
                return Err(map_err(
                    format!("create network {} in {subnet}", request.name),
                    e,
                ))
            }
        }
    }
    Err(HearthError::driver(
        format!("create network {}", request.name),
        format!(
            "the engine's default address pools are used up and {ATTEMPTS} subnets of hearth's \
             pool overlapped other networks; set [network] subnet_pool to a free range"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carves_the_pool() {
        let p = SubnetPool::default();
        assert_eq!(p.len(), 4096);
        assert_eq!(p.subnet(0), "10.213.0.0/28");
        assert_eq!(p.subnet(1), "10.213.0.16/28");
        assert_eq!(p.subnet(16), "10.213.1.0/28");
        assert_eq!(p.subnet(4096), "10.213.0.0/28", "wraps around");
        let q = SubnetPool::parse("192.168.77.9/24", 26).expect("parse");
        assert_eq!((q.len(), q.subnet(3)), (4, "192.168.77.192/26".to_owned()));
    }

    #[test]
    fn refuses_bad_pools() {
        assert!(SubnetPool::parse("10.0.0.0", 28).is_err());
        assert!(SubnetPool::parse("10.0.0.0/33", 28).is_err());
        assert!(SubnetPool::parse("10.0.0.0/24", 16).is_err());
        assert!(SubnetPool::parse("10.0.0.0/24", 30).is_err());
    }
}
