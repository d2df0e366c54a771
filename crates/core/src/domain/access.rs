//! The access policy: who may do what to which street's data. Every handler asks here; no
//! handler decides access itself.
//!
//! Two kinds of answer: an item the caller may not even see is `404 not_found` (its existence
//! is not leaked across streets); an item the caller sees but may not change, or a kind of
//! action the role never has, is `403 forbidden`.

use uuid::Uuid;

use crate::{domain::ProjectStatus, str_enum, Error};

str_enum!(
    /// What a token may do.
    RoleKind {
        /// Everything, in every street.
        DistrictAdmin => "district_admin",
        /// Everything in one street.
        StreetAdmin => "street_admin",
        /// Files and reads demands in one street.
        GridWorker => "grid_worker",
        /// A co-building unit: its own record and resources.
        Unit => "unit",
        /// A volunteer: its own record and resources.
        Volunteer => "volunteer",
    }
);

/// The caller of a request, resolved from its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: Uuid,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    DistrictAdmin,
    StreetAdmin {
        street: Uuid,
    },
    GridWorker {
        street: Uuid,
    },
    /// `streets` are the streets the unit co-builds with, read with the token.
    Unit {
        unit: Uuid,
        streets: Vec<Uuid>,
    },
    Volunteer {
        volunteer: Uuid,
        street: Uuid,
    },
}

impl Role {
    pub fn kind(&self) -> RoleKind {
        match self {
            Role::DistrictAdmin => RoleKind::DistrictAdmin,
            Role::StreetAdmin { .. } => RoleKind::StreetAdmin,
            Role::GridWorker { .. } => RoleKind::GridWorker,
            Role::Unit { .. } => RoleKind::Unit,
            Role::Volunteer { .. } => RoleKind::Volunteer,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Create,
    Update,
    Delete,
}

/// Who owns a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Unit(Uuid),
    /// A volunteer, with the street the volunteer belongs to.
    Volunteer {
        id: Uuid,
        street: Uuid,
    },
}

/// The thing an action is about, with what the policy needs to know of it.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// The street record itself.
    Street(Uuid),
    /// A street's communities, grids and categories.
    StreetArea(Uuid),
    Unit {
        id: Uuid,
        streets: &'a [Uuid],
    },
    Volunteer {
        id: Uuid,
        street: Uuid,
    },
    Resource {
        owner: Owner,
        streets: &'a [Uuid],
    },
    Demand {
        street: Uuid,
    },
    Project {
        street: Uuid,
        status: ProjectStatus,
        claimed_by: Option<Uuid>,
    },
    /// A street's matching plugins: their versions, activation and dry runs.
    Plugins(Uuid),
    /// A service order; `party` when it was offered to the caller or the caller carries it out.
    Order {
        street: Uuid,
        party: bool,
    },
    /// An API token, or the issuing of one: its role and the street it is scoped to.
    Token {
        role: RoleKind,
        street: Option<Uuid>,
        unit_streets: &'a [Uuid],
    },
}

impl Principal {
    /// The one street a street-bound role acts for.
    pub fn home_street(&self) -> Option<Uuid> {
        match &self.role {
            Role::StreetAdmin { street }
            | Role::GridWorker { street }
            | Role::Volunteer { street, .. } => Some(*street),
            Role::DistrictAdmin | Role::Unit { .. } => None,
        }
    }

    fn is_admin_of(&self, street: Uuid) -> bool {
        match &self.role {
            Role::DistrictAdmin => true,
            Role::StreetAdmin { street: s } => *s == street,
            _ => false,
        }
    }

    /// Whether the caller belongs to `street` in any role (a unit: co-builds with it).
    fn belongs_to(&self, street: Uuid) -> bool {
        match &self.role {
            Role::DistrictAdmin => true,
            Role::Unit { streets, .. } => streets.contains(&street),
            _ => self.home_street() == Some(street),
        }
    }

    /// Whether residents' personal data of `street` is shown in full: only to that street's
    /// own admins and grid workers.
    pub fn sees_resident_data(&self, street: Uuid) -> bool {
        matches!(&self.role, Role::StreetAdmin { street: s } | Role::GridWorker { street: s } if *s == street)
    }

    /// Whether an order's ranking (with the rule's reasons) and its offers are shown: to the
    /// street's own staff and to the district, never to the candidates.
    pub fn sees_ranking(&self, street: Uuid) -> bool {
        self.sees_resident_data(street) || matches!(self.role, Role::DistrictAdmin)
    }

    /// Whether a street's own pages — its dashboard of figures, its people and sign-in — are
    /// shown: to the street's staff and to the district. For anyone else the street's pages do
    /// not exist (404), as another street's records do not.
    pub fn sees_street_office(&self, street: Uuid) -> bool {
        self.sees_ranking(street)
    }

    /// Whether an order's resident is shown in full: to the street's own staff, and to the
    /// assignee while it carries the order out (`carrying_out`: the caller is the assignee
    /// of an accepted or started order), who needs to reach them. Candidates still deciding
    /// see the resident masked.
    pub fn sees_order_resident(&self, street: Uuid, carrying_out: bool) -> bool {
        self.sees_resident_data(street) || carrying_out
    }

    /// Checks `action` on `target`.
    pub fn authorize(&self, action: Action, target: Target<'_>) -> Result<(), Error> {
        let decision = decide(self, action, target);
        match decision {
            Decision::Allow => Ok(()),
            Decision::Hidden => Err(Error::NotFound(target.noun())),
            Decision::Deny(why) => Err(Error::Forbidden(why.to_string())),
        }
    }

    /// Refuses roles that may never list or create a kind of thing at all.
    pub fn require(&self, allowed: &[RoleKind], what: &str) -> Result<(), Error> {
        if allowed.contains(&self.role.kind()) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "a {} token may not {what}",
                self.role.kind()
            )))
        }
    }
}

impl Target<'_> {
    fn noun(&self) -> &'static str {
        match self {
            Target::Street(_) => "street",
            Target::StreetArea(_) => "street",
            Target::Unit { .. } => "unit",
            Target::Volunteer { .. } => "volunteer",
            Target::Resource { .. } => "resource",
            Target::Demand { .. } => "demand",
            Target::Project { .. } => "project",
            Target::Token { .. } => "token",
            Target::Plugins(_) => "plugin",
            Target::Order { .. } => "order",
        }
    }
}

enum Decision {
    Allow,
    Hidden,
    Deny(&'static str),
}

fn allow_if(ok: bool, why: &'static str) -> Decision {
    if ok {
        Decision::Allow
    } else {
        Decision::Deny(why)
    }
}

fn decide(p: &Principal, action: Action, target: Target<'_>) -> Decision {
    use Action::*;
    if p.role == Role::DistrictAdmin {
        return Decision::Allow;
    }
    match target {
        // Streets and their areas are the map everyone works on: readable by every caller.
        Target::Street(street) => match action {
            Read => Decision::Allow,
            Update => allow_if(
                p.is_admin_of(street),
                "only the street's admins may change it",
            ),
            Create | Delete => Decision::Deny("only the district manages streets"),
        },
        Target::StreetArea(street) => match action {
            Read => Decision::Allow,
            _ => allow_if(
                p.is_admin_of(street),
                "only the street's admins manage its communities, grids and categories",
            ),
        },
        Target::Unit { id, streets } => {
            let own = matches!(&p.role, Role::Unit { unit, .. } if *unit == id);
            let admin_streets: Vec<Uuid> = streets
                .iter()
                .copied()
                .filter(|s| p.is_admin_of(*s))
                .collect();
            let readable = own
                || match &p.role {
                    Role::StreetAdmin { street } | Role::GridWorker { street } => {
                        streets.contains(street)
                    }
                    _ => false,
                };
            match action {
                Read => {
                    if readable {
                        Decision::Allow
                    } else {
                        Decision::Hidden
                    }
                }
                // A street admin registers units that serve its street (and only its street).
                Create => allow_if(
                    matches!(p.role, Role::StreetAdmin { .. })
                        && !streets.is_empty()
                        && admin_streets.len() == streets.len(),
                    "a street admin registers units for its own street only",
                ),
                Update => {
                    if !readable {
                        Decision::Hidden
                    } else {
                        allow_if(
                            own || !admin_streets.is_empty(),
                            "only the unit itself and the admins of its streets may change it",
                        )
                    }
                }
                Delete => {
                    if !readable {
                        Decision::Hidden
                    } else {
                        allow_if(
                            !streets.is_empty() && admin_streets.len() == streets.len(),
                            "a unit that serves other streets is archived by the district",
                        )
                    }
                }
            }
        }
        Target::Volunteer { id, street } => {
            let own = matches!(&p.role, Role::Volunteer { volunteer, .. } if *volunteer == id);
            let staff = matches!(&p.role,
                Role::StreetAdmin { street: s } | Role::GridWorker { street: s } if *s == street);
            match action {
                Read => {
                    if own || staff {
                        Decision::Allow
                    } else {
                        Decision::Hidden
                    }
                }
                Create => allow_if(
                    p.is_admin_of(street),
                    "only the street's admins register its volunteers",
                ),
                Update => {
                    if !(own || staff) {
                        Decision::Hidden
                    } else {
                        allow_if(
                            own || p.is_admin_of(street),
                            "only the volunteer and the street's admins may change it",
                        )
                    }
                }
                Delete => {
                    if !(own || staff) {
                        Decision::Hidden
                    } else {
                        allow_if(
                            p.is_admin_of(street),
                            "only the street's admins archive volunteers",
                        )
                    }
                }
            }
        }
        Target::Resource { owner, streets } => {
            let own = match (&p.role, owner) {
                (Role::Unit { unit, .. }, Owner::Unit(o)) => *unit == o,
                (Role::Volunteer { volunteer, .. }, Owner::Volunteer { id, .. }) => {
                    *volunteer == id
                }
                _ => false,
            };
            // What is on offer in a street is visible to everyone working in it.
            let readable = own || streets.iter().any(|s| p.belongs_to(*s));
            let street_admin_of_all =
                !streets.is_empty() && streets.iter().all(|s| p.is_admin_of(*s));
            match action {
                Read => {
                    if readable {
                        Decision::Allow
                    } else {
                        Decision::Hidden
                    }
                }
                Create => {
                    let ok = match (&p.role, owner) {
                        (
                            Role::Unit {
                                unit,
                                streets: mine,
                            },
                            Owner::Unit(o),
                        ) => *unit == o && streets.iter().all(|s| mine.contains(s)),
                        (Role::Volunteer { volunteer, street }, Owner::Volunteer { id, .. }) => {
                            *volunteer == id && streets.iter().all(|s| s == street)
                        }
                        (Role::StreetAdmin { street }, Owner::Volunteer { street: vs, .. }) => {
                            vs == *street && street_admin_of_all
                        }
                        (Role::StreetAdmin { .. }, Owner::Unit(_)) => street_admin_of_all,
                        _ => false,
                    };
                    allow_if(ok, "resources are registered by their owner, for streets the owner serves, or by the admin of those streets")
                }
                Update | Delete => {
                    if !readable {
                        Decision::Hidden
                    } else {
                        allow_if(own || street_admin_of_all, "only the owner and the admins of every street it serves may change a resource")
                    }
                }
            }
        }
        Target::Demand { street } => {
            let readable = p.belongs_to(street);
            match action {
                Read => {
                    if readable {
                        Decision::Allow
                    } else {
                        Decision::Hidden
                    }
                }
                Create => allow_if(
                    matches!(&p.role, Role::StreetAdmin { street: s } | Role::GridWorker { street: s } if *s == street),
                    "demands are filed by the street's admins and grid workers",
                ),
                Update | Delete => {
                    if !readable {
                        Decision::Hidden
                    } else {
                        allow_if(
                            p.is_admin_of(street),
                            "only the street's admins change demands",
                        )
                    }
                }
            }
        }
        Target::Project {
            street,
            status,
            claimed_by,
        } => {
            let staff = matches!(&p.role,
                Role::StreetAdmin { street: s } | Role::GridWorker { street: s } if *s == street);
            let claimant = matches!(&p.role, Role::Unit { unit, .. } if Some(*unit) == claimed_by);
            let readable =
                staff || claimant || (status != ProjectStatus::Draft && p.belongs_to(street));
            match action {
                Read => {
                    if readable {
                        Decision::Allow
                    } else {
                        Decision::Hidden
                    }
                }
                Create => allow_if(
                    p.is_admin_of(street),
                    "only the street's admins publish projects",
                ),
                Update => {
                    if !readable {
                        Decision::Hidden
                    } else {
                        allow_if(
                            p.is_admin_of(street),
                            "only the street's admins change projects",
                        )
                    }
                }
                Delete => {
                    if !readable {
                        Decision::Hidden
                    } else {
                        allow_if(
                            p.is_admin_of(street),
                            "only the street's admins delete projects",
                        )
                    }
                }
            }
        }
        // Orders: the street's staff and the parties to an order see it; admins manage it.
        Target::Order { street, party } => {
            let staff = matches!(&p.role,
                Role::StreetAdmin { street: s } | Role::GridWorker { street: s } if *s == street);
            match action {
                Read => {
                    if staff || party {
                        Decision::Allow
                    } else {
                        Decision::Hidden
                    }
                }
                _ => {
                    if !(staff || party) {
                        Decision::Hidden
                    } else {
                        allow_if(
                            p.is_admin_of(street),
                            "only the street's admins dispatch and cancel orders",
                        )
                    }
                }
            }
        }
        // Only the street's own admins (and the district) see and deploy its rules.
        Target::Plugins(street) => allow_if(
            p.is_admin_of(street),
            "only the street's admins manage its matching plugins",
        ),
        Target::Token {
            role,
            street,
            unit_streets,
        } => {
            let Role::StreetAdmin { street: mine } = p.role else {
                return Decision::Deny("only admins manage tokens");
            };
            let in_street = street == Some(mine);
            match (action, role) {
                (_, RoleKind::DistrictAdmin) => {
                    Decision::Deny("only the district issues district tokens")
                }
                (Read | Delete, _) => {
                    if in_street {
                        Decision::Allow
                    } else {
                        Decision::Hidden
                    }
                }
                (Create, RoleKind::Unit) => allow_if(
                    unit_streets.contains(&mine),
                    "a street admin issues tokens only to units that serve its street",
                ),
                (Create, _) => allow_if(
                    in_street,
                    "a street admin issues tokens for its own street only",
                ),
                (Update, _) => {
                    Decision::Deny("tokens cannot be changed; revoke and issue a new one")
                }
            }
        }
    }
}

/// Which rows of a street-scoped collection a caller may list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListScope {
    /// Every street.
    All,
    /// Rows belonging to one of these streets (possibly none).
    Streets(Vec<Uuid>),
}

impl Principal {
    /// The streets whose rows this caller may list in a collection that everyone working in a
    /// street can read (resources, demands, published projects).
    pub fn member_scope(&self) -> ListScope {
        match &self.role {
            Role::DistrictAdmin => ListScope::All,
            Role::Unit { streets, .. } => ListScope::Streets(streets.clone()),
            _ => ListScope::Streets(self.home_street().into_iter().collect()),
        }
    }

    /// The streets whose rows only that street's staff (admins, grid workers) may list.
    pub fn staff_scope(&self) -> Option<ListScope> {
        match &self.role {
            Role::DistrictAdmin => Some(ListScope::All),
            Role::StreetAdmin { street } | Role::GridWorker { street } => {
                Some(ListScope::Streets(vec![*street]))
            }
            _ => None,
        }
    }
}

impl Principal {
    /// Checks a change of the streets a unit co-builds with. The unit chooses whom it serves;
    /// a street admin may only link or unlink its own street.
    pub fn authorize_unit_streets(&self, old: &[Uuid], new: &[Uuid]) -> Result<(), Error> {
        match &self.role {
            Role::DistrictAdmin | Role::Unit { .. } => Ok(()),
            Role::StreetAdmin { street } => {
                let changed = old
                    .iter()
                    .filter(|s| !new.contains(s))
                    .chain(new.iter().filter(|s| !old.contains(s)));
                for s in changed {
                    if s != street {
                        return Err(Error::Forbidden(
                            "a street admin may only link or unlink its own street".into(),
                        ));
                    }
                }
                Ok(())
            }
            _ => Err(Error::Forbidden(
                "this role may not change a unit's streets".into(),
            )),
        }
    }
}

/// Which rows of the registry (units, volunteers) a caller may list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryScope {
    All,
    /// The rows of one street.
    Street(Uuid),
    /// Only the caller's own row.
    Own(Uuid),
}

impl Principal {
    pub fn unit_scope(&self) -> Result<RegistryScope, Error> {
        match &self.role {
            Role::DistrictAdmin => Ok(RegistryScope::All),
            Role::StreetAdmin { street } | Role::GridWorker { street } => {
                Ok(RegistryScope::Street(*street))
            }
            Role::Unit { unit, .. } => Ok(RegistryScope::Own(*unit)),
            Role::Volunteer { .. } => Err(Error::forbidden("a volunteer token may not list units")),
        }
    }

    pub fn volunteer_scope(&self) -> Result<RegistryScope, Error> {
        match &self.role {
            Role::DistrictAdmin => Ok(RegistryScope::All),
            Role::StreetAdmin { street } | Role::GridWorker { street } => {
                Ok(RegistryScope::Street(*street))
            }
            Role::Volunteer { volunteer, .. } => Ok(RegistryScope::Own(*volunteer)),
            Role::Unit { .. } => Err(Error::forbidden("a unit token may not list volunteers")),
        }
    }

    /// The owner whose resources a caller lists besides those serving its streets.
    pub fn own_resources(&self) -> Option<Owner> {
        match &self.role {
            Role::Unit { unit, .. } => Some(Owner::Unit(*unit)),
            Role::Volunteer { volunteer, street } => Some(Owner::Volunteer {
                id: *volunteer,
                street: *street,
            }),
            _ => None,
        }
    }

    /// Streets whose draft projects the caller may see (their staff); others see published
    /// and later projects of the streets they belong to, and those they claimed.
    pub fn project_scope(&self) -> (ListScope, Option<ListScope>, Option<Uuid>) {
        let claimant = match &self.role {
            Role::Unit { unit, .. } => Some(*unit),
            _ => None,
        };
        (self.member_scope(), self.staff_scope(), claimant)
    }

    /// Streets whose tokens the caller may list.
    pub fn token_scope(&self) -> Result<ListScope, Error> {
        match &self.role {
            Role::DistrictAdmin => Ok(ListScope::All),
            Role::StreetAdmin { street } => Ok(ListScope::Streets(vec![*street])),
            _ => Err(Error::forbidden("only admins manage tokens")),
        }
    }
}

impl Principal {
    /// The unit that would claim a published project of `street`: only a unit co-building
    /// with the street may.
    pub fn claimant_for(&self, street: Uuid) -> Result<Uuid, Error> {
        match &self.role {
            Role::Unit { unit, streets } if streets.contains(&street) => Ok(*unit),
            Role::Unit { .. } => Err(Error::NotFound("project")),
            _ => Err(Error::forbidden(
                "projects are claimed by co-building units",
            )),
        }
    }
}

impl Principal {
    /// Only the street's admins set how many orders a volunteer may hold open; the volunteer
    /// edits the rest of its own record.
    /// Whether the caller may set a volunteer's limit on open orders, or make them inactive:
    /// the street's admins (and the district) may; the volunteer may not.
    pub fn sets_volunteer_limits(&self, street: Uuid) -> bool {
        self.is_admin_of(street)
    }

    pub fn authorize_order_limit(&self, street: Uuid) -> Result<(), Error> {
        if self.sets_volunteer_limits(street) {
            Ok(())
        } else {
            Err(Error::forbidden(
                "the street's admins set a volunteer's limit on open orders",
            ))
        }
    }
}

impl Principal {
    /// Progress on a project is reported by the unit that claimed it, or the street's admins.
    pub fn authorize_project_progress(
        &self,
        street: Uuid,
        claimed_by: Option<Uuid>,
    ) -> Result<(), Error> {
        let claimant = matches!(&self.role, Role::Unit { unit, .. } if Some(*unit) == claimed_by);
        if claimant || self.is_admin_of(street) {
            Ok(())
        } else {
            Err(Error::forbidden(
                "progress is reported by the unit that claimed the project",
            ))
        }
    }
}

impl Principal {
    /// Whether the caller manages the webhook endpoints of `owner` (`id`: the street or the
    /// unit): the district all of them, a street's admins the street's, a unit its own.
    pub fn manages_endpoints_of(
        &self,
        owner: super::notification::EndpointOwner,
        id: Option<Uuid>,
    ) -> bool {
        use super::notification::EndpointOwner;
        match (&self.role, owner, id) {
            (Role::DistrictAdmin, _, _) => true,
            (Role::StreetAdmin { street }, EndpointOwner::Street, Some(id)) => *street == id,
            (Role::Unit { unit, .. }, EndpointOwner::Unit, Some(id)) => *unit == id,
            _ => false,
        }
    }

    /// The owners whose endpoints the caller sees and manages; `None` for every owner's (the
    /// district).
    pub fn endpoint_owners(
        &self,
    ) -> Option<Vec<(super::notification::EndpointOwner, Option<Uuid>)>> {
        use super::notification::EndpointOwner;
        match &self.role {
            Role::DistrictAdmin => None,
            Role::StreetAdmin { street } => Some(vec![(EndpointOwner::Street, Some(*street))]),
            Role::Unit { unit, .. } => Some(vec![(EndpointOwner::Unit, Some(*unit))]),
            _ => Some(vec![]),
        }
    }
}
