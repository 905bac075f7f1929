/* Diagnostic: the executor alone, no Python, on Program 2 shapes (batch 32, synthetic data),
 * to see how a training step scales with threads without NumPy/OpenBLAS or the interpreter
 * around it. Not a claim against a rival (see m2_side_by_side.py for those). It alternates
 * 1 thread and N threads (first argument, default 2) for `reps` rounds (default 5) over a
 * 60,000-row x, so both see the same machine noise, and prints the best and median per step.
 * The synthetic rows are half zeros, like Fashion-MNIST's pixels (the first layer's products
 * skip zeros: zeroskip.c); XFILE=path reads the real ones instead, 60,000 x 784 float32 in
 * [0, 1] (e.g. numpy: (x / 255).astype(np.float32).tofile(path)).
 *
 *   cmake --build build && gcc -O2 benchmarks/step_harness.c -Icsrc build/libannc_core.a \
 *       -fopenmp -lm -o /tmp/step_harness && /tmp/step_harness 2 [reps]
 */
#include "annc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float* F(size_t n){float*p=aligned_alloc(64,((n*4+63)/64)*64);memset(p,0,n*4);return p;}
/* x on 2 MiB pages where the kernel allows it, as NumPy asks for its large arrays (madvise),
 * so that the gathers' random rows cost what they cost under fit */
static float* FX(size_t n){size_t b=((n*4+(1u<<21)-1)>>21)<<21; float*p=aligned_alloc(1u<<21,b);
#ifdef MADV_HUGEPAGE
  madvise(p,b,MADV_HUGEPAGE);
#endif
  memset(p,0,b); return p;}
int main(int argc,char**argv){
  int nt=argc>1?atoi(argv[1]):2; int B=32, N=60000, IN=784, H=100, O=10;
  float *x=FX((size_t)N*IN); int32_t *y=malloc(N*4); for(size_t i=0;i<(size_t)N*IN;i++) {unsigned h=(unsigned)(i*2654435761u); x[i]=(h>>7)%100<50?0.f:(float)(h%1000)/1000.f;} for(int i=0;i<N;i++) y[i]=i%10;
  size_t np_=IN*H+H+H*O+O; float *P=F(np_),*G=F(np_),*S0=F(np_);
  for(size_t i=0;i<np_;i++) P[i]=((float)((i*40503u)%2000)/1000.f-1.f)*0.05f;
  annc_layer L[2]; memset(L,0,sizeof L);
  L[0].kind=ANNC_LAYER_DENSE; L[0].in=IN; L[0].out=H; L[0].act=ANNC_ACT_RELU; L[0].W=P; L[0].b=P+IN*H; L[0].dW=G; L[0].db=G+IN*H; L[0].trainable=1; L[0].y=F(B*H);
  L[1].kind=ANNC_LAYER_DENSE; L[1].in=H; L[1].out=O; L[1].act=ANNC_ACT_SOFTMAX; L[1].W=P+IN*H+H; L[1].b=L[1].W+H*O; L[1].dW=G+IN*H+H; L[1].db=L[1].dW+H*O; L[1].trainable=1; L[1].y=F(B*O);
  annc_net net; memset(&net,0,sizeof net);
  net.nlayers=2; net.layers=L; net.in_features=IN; net.out_features=O; net.rows=B; net.xbuf=F(2*B*IN); net.tbuf=malloc(B*4);
  net.gbuf0=F(B*IN); net.gbuf1=F(B*IN); net.loss_rows=F(B); net.loss=ANNC_LOSS_SPARSE_CCE; net.fused=1; net.nthreads=nt;
  net.params=P; net.grads=G; net.slot0=S0; net.nparams=np_; net.all_trainable=1;
  net.ws_need=annc_net_workspace_floats(&net,B); net.ws=F(net.ws_need+16); net.ws_floats=net.ws_need;
  annc_optimizer opt; memset(&opt,0,sizeof opt); opt.kind=ANNC_OPT_RMSPROP; opt.learning_rate=1e-3f; opt.rho=0.9f; opt.epsilon=1e-7f; opt.u_product=1;
  int64_t *perm=malloc(N*8); for(int i=0;i<N;i++) perm[i]=((int64_t)i*7919)%N;
  int metrics[1]={0}; double sums[2]={0};
  if(getenv("XFILE")){FILE*f=fopen(getenv("XFILE"),"rb"); if(!f||fread(x,4,(size_t)N*IN,f)!=(size_t)N*IN){fprintf(stderr,"cannot read %s\n",getenv("XFILE")); return 1;} fclose(f);}
  int steps=N/B; int reps=argc>2?atoi(argv[2]):5;
  /* alternate 1 thread and nt threads so that both see the same machine noise */
  double best[2]={1e9,1e9}, all[2][64];
  for(int rep=0;rep<reps&&rep<64;rep++) for(int k=0;k<2;k++){
    net.nthreads=k?nt:1;
    double t=now();
    ptrdiff_t seen=0; for(int s=0;s<steps;s+=250) annc_train_steps(&net,&opt,x,IN,y,0,perm,N,B,s,250,NULL,1,0,metrics,1,sums,&seen);
    double us=(now()-t)/steps*1e6; all[k][rep]=us; if(us<best[k]) best[k]=us;
  }
  for(int k=0;k<2;k++){ /* median by insertion sort */
    int n=reps<64?reps:64; double *a=all[k];
    for(int i=1;i<n;i++){double v=a[i];int j=i-1;while(j>=0&&a[j]>v){a[j+1]=a[j];j--;}a[j+1]=v;}
    printf("threads=%d: best %.1f us/step, median %.1f\n",k?nt:1,best[k],a[n/2]);
  }
}
