//! What the drivers share. Every driver records the same [`Step`]s and folds container states
//! into a status the same way ([`state`]); the two engine drivers, LocalDocker and Swarm, also
//! list their objects ([`objects`]) and bring a role up ([`create`]) through the same code.

pub mod create;
pub mod objects;
pub mod state;

pub use crate::step::Step;
pub use state::{
    local_roles, missing_roles, role_state, status_from_states, workspace_status, ContainerState,
};
