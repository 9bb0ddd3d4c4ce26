# Module import cycles per crate; DEPTH=1 collapses modules to the top level:
#   DEPTH=1 python3 scripts/shape/cycles.py engine/src catalog/src jobs/src src cluster/src
import re,os,sys,itertools
# module-level import graph per crate: edges between top-level modules (and submodules of readers/writer)
def modname(crate_src, path):
    rel=os.path.relpath(path,crate_src)[:-3].split('/')
    if rel[-1] in ('mod','lib','main'): rel=rel[:-1]
    return '::'.join(rel) or 'crate'
for crate in sys.argv[1:]:
    mods={}
    for dp,dn,fn in os.walk(crate):
        for f in fn:
            if f.endswith('.rs'):
                p=os.path.join(dp,f); mods[modname(crate,p)]=open(p).read()
    names=set(mods)
    edges=set()
    for m,src in mods.items():
        src=re.sub(r'#\[cfg\(test\)\]\s*mod tests\s*\{.*','',src,flags=re.S)
        src=re.sub(r'//[^\n]*','',src)
        for r in re.findall(r'(?:crate|super)::([a-z_]+(?:::[a-z_]+)*)',src):
            parts=r.split('::')
            # resolve to longest known module
            for k in range(len(parts),0,-1):
                t='::'.join(parts[:k])
                if t in names: break
            else: continue
            if t!=m and not m.startswith(t+'::') and not t.startswith(m+'::'):
                edges.add((m,t))
    # cycles among modules: compute SCCs on graph collapsed to the level of siblings
    import collections
    D=int(os.environ.get('DEPTH','9'))
    edges={( '::'.join(a.split('::')[:D]), '::'.join(b.split('::')[:D])) for a,b in edges}
    edges={(a,b) for a,b in edges if a!=b}
    g=collections.defaultdict(set)
    for a,b in edges: g[a].add(b)
    idx={};low={};st=[];on=set();out=[];c=[0]
    sys.setrecursionlimit(10000)
    def sc(v):
        idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
        for w in g[v]:
            if w not in idx: sc(w);low[v]=min(low[v],low[w])
            elif w in on: low[v]=min(low[v],idx[w])
        if low[v]==idx[v]:
            comp=[]
            while True:
                w=st.pop();on.discard(w);comp.append(w)
                if w==v:break
            if len(comp)>1: out.append(comp)
    for v in list(g):
        if v not in idx: sc(v)
    print(crate, 'cycles:', out)
