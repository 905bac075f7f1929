/* Sanitizer fuzz of annc_sgemm: random shapes, transposes, leading dimensions, alpha/beta,
 * bias+relu, mostly-zero A (the zero-skipping kernels), thread counts and caller/own
 * workspace, every buffer malloc'd to its exact size so AddressSanitizer sees any read or
 * write past an edge; results against a double-precision loop, and the padding columns of C
 * must stay untouched. Built and run by tests/test_ops.py::test_sanitizer_fuzz when
 * ANNC_FUZZ=1 (both ISA paths). */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include "annc.h"
static float rnd(void){return (float)rand()/RAND_MAX-0.5f;}
int main(void){
  srand(1); int bad=0;
  for(int it=0;it<1500;it++){
    int m=(it%4==1)?(5+rand()%11):1+rand()%(it%5==0?300:40), n=1+rand()%(it%7==0?300:40), k=1+rand()%(it%3==0?900:40);
    int ta=rand()&1, tb=rand()&1, nt=1+rand()%3; int act=(rand()%4==0)?1:0;
    int lda=(ta?m:k)+(rand()%3==0?rand()%5:0), ldb=(tb?k:n)+(rand()%3==0?rand()%5:0), ldc=n+(rand()%3==0?rand()%5:0);
    size_t asz=(size_t)(ta?k:m)*lda - (lda-(ta?m:k)), bsz=(size_t)(tb?n:k)*ldb-(ldb-(tb?k:n)), csz=(size_t)m*ldc-(ldc-n);
    float *a=malloc(asz*4),*b=malloc(bsz*4),*c=malloc(csz*4),*c0=malloc(csz*4),*bias=malloc(n*4);
    int sparse=it%3==2; /* mostly zeros: the zero-skipping path (alpha 1, beta 0 or 1) */
    for(size_t i=0;i<asz;i++)a[i]=(sparse&&rand()%10<6)?0.0f:rnd(); for(size_t i=0;i<bsz;i++)b[i]=rnd(); for(size_t i=0;i<csz;i++)c0[i]=c[i]=rnd(); for(int i=0;i<n;i++)bias[i]=rnd();
    /* NaN between B's rows (outside the view) must not matter: the zero-skipping product's
     * finiteness scan runs over it and then looks row by row */
    if(!tb && ldb>n && it%4==3) for(int p=0;p+1<k;p++) for(int j=n;j<ldb;j++) b[(size_t)p*ldb+j]=NAN;
    float alpha=(rand()%2||sparse)?1.0f:0.7f, beta=(rand()%3==0)?0.0f:((rand()%2||sparse)?1.0f:-0.5f);
    int usebias=rand()%2; float *ws=NULL;
    if(rand()%2){size_t w=annc_sgemm_workspace_floats(m,n,k,nt); ws=aligned_alloc(64,((w*4+63)/64)*64);}
    int st=annc_sgemm(ta,tb,m,n,k,alpha,a,lda,b,ldb,beta,c,ldc,usebias?bias:NULL,act,0.f,nt,ws);
    if(st){printf("status %d\n",st);bad++;}
    for(int i=0;i<m;i++)for(int j=0;j<n;j++){double s=0,mag=0;for(int p=0;p<k;p++){double x=ta?a[(size_t)p*lda+i]:a[(size_t)i*lda+p]; double y=tb?b[(size_t)j*ldb+p]:b[(size_t)p*ldb+j]; s+=x*y; mag+=fabs(x*y);}
      double r=alpha*s+(beta!=0?beta*c0[(size_t)i*ldc+j]:0)+(usebias?bias[j]:0); if(act==1&&r<0)r=0;
      double e=fabs(c[(size_t)i*ldc+j]-r); if(!(e<=4e-7*(k+2)*(mag+fabs(c0[(size_t)i*ldc+j])+1))){if(bad<5)printf("bad it%d %dx%dx%d ta%d tb%d (%d,%d) got %g want %g\n",it,m,k,n,ta,tb,i,j,c[(size_t)i*ldc+j],r);bad++;}}
    for(int i=0;i<m;i++)for(int j=n;j<ldc && i<m-1;j++) if(c[(size_t)i*ldc+j]!=c0[(size_t)i*ldc+j]){if(bad<5)printf("padding written\n");bad++;}
    free(a);free(b);free(c);free(c0);free(bias);free(ws);
  }
  printf("fuzz done, bad=%d\n",bad); return bad!=0;
}
