//! The attributes of the guest library `edgekit`: one `async fn` source for
//! both WASI lines.
//!
//! A 0.3 handler is an `async fn`: its body and the calls it awaits may
//! wait for the host, and an instance serves other requests meanwhile. On
//! 0.2 every WASI call blocks, so the same function never waits, and
//! running it as a future costs a state machine for nothing: 300 to 400
//! bytes of a template with an `.await` or two, measured on http-api and
//! kv-api (docs/size.md). So these attributes emit the function twice, each
//! copy under the library's `on_p2!` or `on_p3!`, which keep the copy of
//! the line the library was built for:
//!
//! - on 0.3, the function as written;
//! - on 0.2, the same function without `async`, each `e.await` in it
//!   (outside nested `async` blocks and closures) written
//!   `::edgekit::p2::Now::now(e)`, which takes a value that is there at once
//!   (what the library's 0.2 calls return, `edgekit::p2::Done`). A
//!   `#[maybe_async]` function's 0.2 copy returns its value in a `Done`,
//!   so that its callers await it the same way.
//!
//! `#[edgekit::handler]` also exports the function as the component's
//! handler (`edgekit::export_handler!`); `#[edgekit::handler(next)]`
//! exports a middleware's, which stays `async` on 0.2 too: there, awaiting
//! `edgekit::http::next` does not return.

use proc_macro::TokenStream;
use quote::quote;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, ItemFn, ReturnType, parse_macro_input, parse_quote};

/// An `async fn` on 0.3, a plain `fn` on 0.2 (see the crate's doc).
#[proc_macro_attribute]
pub fn maybe_async(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(proc_macro2::Span::call_site(), "#[edgekit::maybe_async] takes no arguments")
            .to_compile_error()
            .into();
    }
    let function = parse_macro_input!(item as ItemFn);
    if function.sig.asyncness.is_none() {
        return syn::Error::new_spanned(function.sig.fn_token, "#[edgekit::maybe_async] takes an `async fn`")
            .to_compile_error()
            .into();
    }
    let mut blocking = blocking(function.clone());
    // Its callers await it: on 0.2 its value comes ready at once.
    let output = match &blocking.sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let block = &blocking.block;
    blocking.sig.output = parse_quote!(-> ::edgekit::p2::Done<#output>);
    blocking.block = parse_quote!({ ::edgekit::p2::Done((move || -> #output #block)()) });
    quote! {
        ::edgekit::on_p3! { #function }
        ::edgekit::on_p2! { #blocking }
    }
    .into()
}

/// Exports the `async fn` as the component's `wasi:http` handler, a plain
/// `fn` on 0.2 (see the crate's doc); `#[edgekit::handler(next)]`
/// for a middleware's, `async` on both lines.
#[proc_macro_attribute]
pub fn handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    let function = parse_macro_input!(item as ItemFn);
    if function.sig.asyncness.is_none() {
        return syn::Error::new_spanned(function.sig.fn_token, "#[edgekit::handler] takes an `async fn`")
            .to_compile_error()
            .into();
    }
    let name = &function.sig.ident;
    match attr.to_string().as_str() {
        "" => {
            let blocking = blocking(function.clone());
            quote! {
                ::edgekit::on_p3! { #function ::edgekit::export_handler!(#name); }
                ::edgekit::on_p2! { #blocking ::edgekit::export_handler!(sync #name); }
            }
            .into()
        }
        "next" => quote!(#function ::edgekit::export_handler!(next #name);).into(),
        other => syn::Error::new(
            proc_macro2::Span::call_site(),
            format!("#[edgekit::handler({other})]: the one argument is `next` (a middleware's handler)"),
        )
        .to_compile_error()
        .into(),
    }
}

/// The 0.2 copy of an `async fn`: a plain `fn`, each `e.await` in it written
/// `::edgekit::p2::Now::now(e)`.
fn blocking(mut function: ItemFn) -> ItemFn {
    function.sig.asyncness = None;
    Unawait.visit_block_mut(&mut function.block);
    function
}

/// Writes each `e.await` as `::edgekit::p2::Now::now(e)`, leaving nested async
/// blocks and closures (whose awaits are theirs) as they are.
struct Unawait;

impl VisitMut for Unawait {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Async(_) | Expr::Closure(_) => {}
            Expr::Await(awaited) => {
                self.visit_expr_mut(&mut awaited.base);
                let base = &awaited.base;
                *expr = parse_quote!(::edgekit::p2::Now::now(#base));
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {
        // Items nested in the body are not the function's own code.
    }
}
