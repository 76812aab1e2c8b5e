//! Throwaway: per-call cost of mini-epoll's wait against epoll_wait, no sleeping.
use simnic::{Endpoint, MiniEpoll, MINI_EPOLL_CTL_ADD};
use std::os::fd::AsRawFd;
use std::time::Instant;

fn main() {
    let ep = Endpoint::open_nonblocking().unwrap();
    let fd = ep.as_raw_fd();
    unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mux = MiniEpoll::open().unwrap();
    mux.ctl(MINI_EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, 1).unwrap();
    let efd = unsafe { libc::epoll_create1(0) };
    let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: 1 };
    unsafe { libc::epoll_ctl(efd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
    let empty_mux = MiniEpoll::open().unwrap();
    let empty_efd = unsafe { libc::epoll_create1(0) };
    for _ in 0..2 { pingpong(true); pingpong(false); }
    let n = 20000;
    let mut buf = vec![simnic::uapi::MiniEpollEvent::default(); 16];
    let mut eb = [libc::epoll_event { events: 0, u64: 0 }; 16];
    for round in 0..3 {
        let t = Instant::now();
        for _ in 0..n { assert_eq!(mux.wait_into(&mut buf, 0).unwrap(), 1); }
        let a = t.elapsed().as_nanos() as f64 / n as f64;
        let t = Instant::now();
        for _ in 0..n { assert_eq!(unsafe { libc::epoll_wait(efd, eb.as_mut_ptr(), 16, 0) }, 1); }
        let b = t.elapsed().as_nanos() as f64 / n as f64;
        let t = Instant::now();
        for _ in 0..n { assert_eq!(empty_mux.wait_into(&mut buf, 0).unwrap(), 0); }
        let c = t.elapsed().as_nanos() as f64 / n as f64;
        let t = Instant::now();
        for _ in 0..n { assert_eq!(unsafe { libc::epoll_wait(empty_efd, eb.as_mut_ptr(), 16, 0) }, 0); }
        let d = t.elapsed().as_nanos() as f64 / n as f64;
        let t = Instant::now();
        for _ in 0..n { unsafe { libc::ioctl(fd, libc::FIONREAD, &mut 0i32) }; }
        let e = t.elapsed().as_nanos() as f64 / n as f64;
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        let t = Instant::now();
        for _ in 0..n { unsafe { libc::poll(&mut pfd, 1, 0) }; }
        let f = t.elapsed().as_nanos() as f64 / n as f64;
        println!("round {round}: ready: mini {a:.0} ns epoll {b:.0} ns ({:.2}x) | empty: mini {c:.0} epoll {d:.0} ({:.2}x) | FIONREAD ioctl {e:.0} | poll(1 fd) {f:.0}", a / b, c / d);
    }
}

fn cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn pingpong(mini: bool) {
    let a = Endpoint::open_nonblocking().unwrap();
    let b = Endpoint::open_nonblocking().unwrap();
    let (pa, pb) = (a.ep_stats().unwrap().port, b.ep_stats().unwrap().port);
    a.connect(pb).unwrap();
    b.connect(pa).unwrap();
    let bfd = b.as_raw_fd();
    let rounds = 2000;
    let h = std::thread::spawn(move || {
        let mux = MiniEpoll::open().unwrap();
        let efd = unsafe { libc::epoll_create1(0) };
        if mini { mux.ctl(MINI_EPOLL_CTL_ADD, bfd, libc::EPOLLIN as u32, 1).unwrap(); }
        else { let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: 1 }; unsafe { libc::epoll_ctl(efd, libc::EPOLL_CTL_ADD, bfd, &mut ev) }; }
        let i0 = mux.info().unwrap();
        let mut buf = vec![simnic::uapi::MiniEpollEvent::default(); 16];
        let mut eb = [libc::epoll_event { events: 0, u64: 0 }; 16];
        let mut cpu = 0u64;
        let mut d = [0u8; 64];
        for _ in 0..rounds {
            let c0 = cpu_ns();
            let n = if mini { mux.wait_into(&mut buf, -1).unwrap() } else { unsafe { libc::epoll_wait(efd, eb.as_mut_ptr(), 16, -1) as usize } };
            cpu += cpu_ns() - c0;
            assert_eq!(n, 1);
            let r = unsafe { libc::read(bfd, d.as_mut_ptr().cast(), 64) };
            assert!(r > 0);
            unsafe { libc::write(bfd, d.as_ptr().cast(), r as usize) };
        }
        let i1 = mux.info().unwrap();
        (cpu, i0, i1)
    });
    let afd = a.as_raw_fd();
    let mut d = [0u8; 64];
    let t = Instant::now();
    for _ in 0..rounds {
        std::thread::sleep(std::time::Duration::from_micros(200));
        unsafe { libc::write(afd, d.as_ptr().cast(), 64) };
        loop { if unsafe { libc::read(afd, d.as_mut_ptr().cast(), 64) } > 0 { break; } std::thread::yield_now(); }
    }
    let el = t.elapsed();
    let (cpu, i0, i1) = h.join().unwrap();
    println!("{}: waiter cpu/event {} ns; elapsed {:?}; per event: callbacks {:.2} ready_adds {:.2} filtered {:.2} harvested {:.2} reported {:.2} lt_requeued {:.2} spurious {:.2}",
        if mini { "mini-epoll" } else { "epoll" }, cpu / rounds as u64, el,
        (i1.callbacks - i0.callbacks) as f64 / rounds as f64, (i1.ready_adds - i0.ready_adds) as f64 / rounds as f64,
        (i1.filtered - i0.filtered) as f64 / rounds as f64, (i1.harvested - i0.harvested) as f64 / rounds as f64,
        (i1.reported - i0.reported) as f64 / rounds as f64, (i1.lt_requeued - i0.lt_requeued) as f64 / rounds as f64,
        (i1.spurious - i0.spurious) as f64 / rounds as f64);
}
