// SPDX-License-Identifier: GPL-2.0

//! The module's own multiplexers (Documentation/multiplexers.rst):
//! mini-poll (`do_poll`) and mini-epoll (`fs/eventpoll.c`).

#[path = "mux/mini_epoll.rs"]
pub(crate) mod mini_epoll;
#[path = "mux/mini_poll.rs"]
pub(crate) mod mini_poll;
#[path = "mux/user_watches.rs"]
pub(crate) mod user_watches;
