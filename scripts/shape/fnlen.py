# Function lengths over non-test Rust code (comment- and string-aware brace matching):
#   python3 scripts/shape/fnlen.py src jobs/src catalog/src engine/src cluster/src   (TOP=N for more rows)
import re,sys,os,statistics
def strip(src):
    # remove comments and string/char literals, keep newlines
    out=[];i=0;n=len(src)
    while i<n:
        c=src[i]
        if src.startswith('//',i):
            j=src.find('\n',i); j=n if j<0 else j; i=j; continue
        if src.startswith('/*',i):
            d=1;j=i+2
            while j<n and d:
                if src.startswith('/*',j): d+=1;j+=2
                elif src.startswith('*/',j): d-=1;j+=2
                else: j+=1
            out.append('\n'*src[i:j].count('\n')); i=j; continue
        m=re.match(r'b?r(#*)"',src[i:i+10])
        if m and (i==0 or not (src[i-1].isalnum() or src[i-1]=='_')):
            h=m.group(1); end='"'+h; j=src.find(end,i+len(m.group(0)))
            j=n if j<0 else j+len(end)
            out.append('""'+'\n'*src[i:j].count('\n')); i=j; continue
        if c=='"' or (c=='b' and i+1<n and src[i+1]=='"' and not (i>0 and (src[i-1].isalnum() or src[i-1]=='_'))):
            j=i+(2 if c=='b' else 1)
            while j<n and src[j]!='"':
                j+= 2 if src[j]=='\\' else 1
            j+=1
            out.append('""'+'\n'*src[i:j].count('\n')); i=j; continue
        if c=="'":
            m=re.match(r"'(\\.[^']*|[^\\'])'",src[i:i+12])
            if m: out.append("' '"); i+=len(m.group(0)); continue
        out.append(c); i+=1
    return ''.join(out)
def drop_tests(s):
    # remove #[cfg(test)] items (mod blocks)
    while True:
        m=re.search(r'#\[cfg\(test\)\]\s*(pub\s+)?mod\s+\w+\s*\{',s)
        if not m: return s
        j=m.end(); d=1
        while d: 
            if s[j]=='{': d+=1
            elif s[j]=='}': d-=1
            j+=1
        s=s[:m.start()]+'\n'*s[m.start():j].count('\n')+s[j:]
res=[];files=[]
for root in sys.argv[1:]:
  for dp,dn,fn in os.walk(root):
    if '/tests' in dp or 'target' in dp: continue
    for f in fn:
      if not f.endswith('.rs') or f=='tests.rs': continue
      p=os.path.join(dp,f); s=drop_tests(strip(open(p).read()))
      lines=[l for l in s.split('\n') if l.strip()]
      files.append((len(lines),p))
      for m in re.finditer(r'\bfn\s+(\w+)',s):
        j=m.end(); 
        # find body start '{' or ';'
        d=0
        while j<len(s) and s[j] not in '{;': j+=1
        if j>=len(s) or s[j]==';': continue
        st=j; d=1; j+=1
        while d and j<len(s):
            if s[j]=='{': d+=1
            elif s[j]=='}': d-=1
            j+=1
        l0=s[:m.start()].count('\n')+1; l1=s[:j].count('\n')+1
        res.append((l1-l0+1,p,l0,m.group(1)))
L=sorted(r[0] for r in res)
print('fns',len(L),'median',statistics.median(L),'p90',L[int(len(L)*0.9)], 'over120',sum(1 for x in L if x>120))
for r in sorted(res,reverse=True)[:int(os.environ.get('TOP','25'))]: print(r)
print('files>800:',[f for f in sorted(files,reverse=True) if f[0]>800])
print('top files',sorted(files,reverse=True)[:12])
