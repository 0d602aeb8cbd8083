//! The label keys on every engine object hearth creates (reverse-DNS keys), and the one a
//! test run stamps on its own. The daemon (`hearth::labels`) stamps and filters by them; the
//! test kit and the bench find and sweep by them, so no side spells them twice.

/// Always [`MANAGED_BY_VALUE`]: the object was created by a hearth daemon.
pub const MANAGED_BY: &str = "dev.hearth.managed-by";
/// The workspace slug the object belongs to.
pub const WORKSPACE: &str = "dev.hearth.workspace";
/// `cairnet`, `lore`, or `network` for the workspace network.
pub const ROLE: &str = "dev.hearth.role";
/// The tier the workspace was provisioned at.
pub const TIER: &str = "dev.hearth.tier";
/// The daemon instance that owns the object.
pub const INSTANCE: &str = "dev.hearth.instance";
/// On a warm-pool member's objects: the pool key (tier and image digests) it was built for.
/// Labels cannot change, so a claimed member keeps it; hearth's record says who claimed it.
pub const POOL: &str = "dev.hearth.pool";

/// On a Swarm service: the loopback port of the role's relay, so a restarted daemon binds the
/// same port and the endpoint it recorded stays true.
pub const RELAY_PORT: &str = "dev.hearth.relay-port";

/// On a Swarm service that is no role of the workspace: `door` (the forwarder on hearth's node
/// that reaches roles on other nodes) or `cleanup` (a one-off job removing the workspace's
/// volumes on a worker node).
pub const SWARM_PART: &str = "dev.hearth.swarm-part";

/// On a swarm node (set by its operator): the path of that node's engine socket, which the job
/// removing a torn-down workspace's volumes there mounts; `/var/run/docker.sock` without it.
pub const ENGINE_SOCKET: &str = "dev.hearth.engine-socket";

/// Value of [`MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "hearth";

/// The key every test-made object carries (an operator's extra label, `--label`); its value
/// is the test run's id (`HEARTH_TEST_RUN`), so `make clean-docker` sweeps its own run only.
pub const TEST: &str = "dev.hearth.test";
