//! The one topological sort of job steps and workflow nodes.

/// Indices `0..deps.len()` ordered so each comes after those it depends on (`deps[i]`), visiting
/// in index order. A cycle is returned as the indices along it, the first repeated at the end.
pub(crate) fn order(deps: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let mut walk = Walk {
        deps,
        done: vec![false; deps.len()],
        path: Vec::new(),
        order: Vec::with_capacity(deps.len()),
    };
    for i in 0..deps.len() {
        walk.visit(i)?;
    }
    Ok(walk.order)
}

struct Walk<'a> {
    deps: &'a [Vec<usize>],
    done: Vec<bool>,
    path: Vec<usize>,
    order: Vec<usize>,
}

impl Walk<'_> {
    fn visit(&mut self, i: usize) -> Result<(), Vec<usize>> {
        if self.done[i] {
            return Ok(());
        }
        if let Some(at) = self.path.iter().position(|&p| p == i) {
            let mut cycle = self.path[at..].to_vec();
            cycle.push(i);
            return Err(cycle);
        }
        self.path.push(i);
        for &d in &self.deps[i] {
            self.visit(d)?;
        }
        self.path.pop();
        self.done[i] = true;
        self.order.push(i);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_come_first_and_cycles_are_named() {
        assert_eq!(order(&[vec![2], vec![], vec![1]]), Ok(vec![1, 2, 0]));
        assert_eq!(order(&[vec![1], vec![2], vec![0]]), Err(vec![0, 1, 2, 0]));
    }
}
